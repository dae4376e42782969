"""Buffers an engine writes its iterates into, reused once no iterate holds them.

A batched iteration writes several arrays as large as the batch (the new
code, the extrapolated point, the gradient, the images). Allocating them
afresh every iteration costs page faults and cache misses that, on a batch
of a few thousand signals, take as long as the matrix products themselves.
An engine instead takes its outputs from a :class:`Workspace` and, after
each step, hands back the arrays of the previous state: each buffer is then
written again two iterations later.

This is safe only when nobody else keeps a state: the loop does not, a
callback may. Engines therefore recycle only when there is no callback
(``Workspace(recycle=False)`` allocates every time and reuses nothing).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Workspace"]


class Workspace:
    """A pool of arrays owned by one engine run.

    ``empty(shape, dtype)`` returns a free buffer of that shape and dtype, or
    a new one; ``release(*arrays, keep=state)`` returns to the pool every
    array among ``arrays`` (states are iterated for their arrays) that this
    workspace handed out and that ``keep`` does not hold, compared by
    identity. Arrays it did not hand out (the caller's data, an operator's
    own result) are never reused.

    Examples
    --------
    >>> import numpy as np
    >>> from proxcore.engines._workspace import Workspace
    >>> ws = Workspace()
    >>> a = ws.empty((3, 2), np.float64)
    >>> ws.release(a)
    >>> ws.empty((3, 2), np.float64) is a
    True
    >>> b = ws.empty((3, 2), np.float64)       # a is taken again: a new buffer
    >>> ws.release(a, b, keep=(b,))
    >>> ws.empty((3, 2), np.float64) is a, ws.empty((3, 2), np.float64) is b
    (True, False)
    """

    def __init__(self, recycle: bool = True):
        self.recycle = recycle
        self._owned: dict[int, np.ndarray] = {}  # id -> buffer, every buffer handed out (kept alive, so ids stay unique)
        # (shape, dtype) -> {id: buffer}, those free to hand out again, oldest first: a lookup, not a search
        self._free: dict[tuple, dict[int, np.ndarray]] = {}

    def empty(self, shape, dtype) -> np.ndarray:
        key = (tuple(shape), np.dtype(dtype))
        free = self._free.get(key)
        if free:
            return free.pop(next(iter(free)))
        buffer = np.empty(*key)
        if self.recycle:
            self._owned[id(buffer)] = buffer
        return buffer

    def release(self, *arrays, keep=()) -> None:
        if not self.recycle:
            return
        mine = [a for a in _arrays(arrays) if id(a) in self._owned]
        if not mine:
            return
        kept = {id(a) for a in _arrays(keep)}
        for a in mine:
            if id(a) not in kept:
                self._free.setdefault((a.shape, a.dtype), {})[id(a)] = a


def _arrays(items, found=None):
    """The arrays among ``items``, states and pairs of outputs (tuples) searched too, as a list."""
    found = [] if found is None else found
    for item in items:
        if isinstance(item, np.ndarray):
            found.append(item)
        elif isinstance(item, tuple):  # a state (a NamedTuple), or a pair of outputs
            _arrays(item, found)
    return found
