"""The plugin registry: dictionaries, operators, regularizers and pursuits by name.

Plugins are pluggy plugins of project ``"proxcore"`` that implement the hooks
of :mod:`proxcore.hookspecs`, each returning ``{name: factory}``. They arrive
in three ways, all through :meth:`PluginManager.register`:

1. the *essential* plugin, :mod:`proxcore.engines._essential` (the core
   engines, and only them), registered first and impossible to block, like
   pytest's essential plugins;
2. every entry point of the group ``proxcore``, in a fixed order (proxcore's
   own distribution first, then by distribution and entry-point name). The
   built-in regularizers, operators, dictionaries and pursuits, packages of
   ``plugins/``, are declared there by proxcore's own ``pyproject.toml`` and
   load exactly as a third-party package does;
3. :func:`register` at run time.

Failure modes, none of them silent:

- two plugins claiming one name: the second is refused with a
  :class:`PluginConflictError` naming the name and both plugins (at autoload,
  a :class:`ProxcorePluginWarning`, and looking the name up raises the
  error); the registry stays usable;
- an unknown name: :class:`proxcore.InvalidParameterError` naming it, with
  close matches;
- a plugin that fails to import, or whose hook raises: a warning (autoload)
  or a :class:`PluginError` (run time) naming the plugin and its
  distribution; the other plugins still load;
- a misspelt hook, or a hook function without ``@pc.hookimpl``:
  :class:`PluginError` (``check_pending``).

Environment: ``PROXCORE_DISABLE_PLUGIN_AUTOLOAD`` (any non-empty value) skips
the entry points (the essential plugin still loads);
``PROXCORE_DISABLE_PLUGINS=name1,name2`` blocks entry points by name;
``PROXCORE_STRICT_PLUGINS`` turns autoload warnings into errors. They are
read when a manager loads, never at import of this module. The default
manager loads on first use (not during ``import proxcore``, so that importing
a plugin package before proxcore cannot catch it half-initialised).

Examples
--------
>>> import proxcore as pc
>>> class Plugin:
...     @pc.hookimpl
...     def proxcore_dictionaries(self):
...         return {"tiny-identity": lambda n=2: pc.Identity(n)}
>>> manager = pc.plugins.make_manager().load(autoload=False)
>>> _ = manager.register(Plugin(), name="tiny")
>>> manager.dictionary("tiny-identity", n=3).in_shape
(3,)
>>> manager.pursuit("fista") is pc.pursuit("fista")
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib
import inspect
import os
import warnings
from collections.abc import Mapping
from importlib.metadata import entry_points

import pluggy

from . import hookspecs
from ._validation import InvalidParameterError

__all__ = [
    "API_VERSION",
    "KINDS",
    "Entry",
    "PluginConflictError",
    "PluginError",
    "PluginManager",
    "PluginRecord",
    "ProxcorePluginWarning",
    "dictionary",
    "get_manager",
    "hookimpl",
    "load",
    "make_manager",
    "names",
    "operator",
    "pursuit",
    "register",
    "regularizer",
    "report",
    "unregister",
    "use",
]

hookimpl = pluggy.HookimplMarker("proxcore")
"""The marker of plugin hook implementations (also ``pc.hookimpl``)."""

API_VERSION = (1, 0)
"""The plugin API a plugin may request with ``PROXCORE_PLUGIN_API = (major, minor)``."""

ENTRY_POINT_GROUP = "proxcore"
ESSENTIAL = "proxcore.engines._essential"
AUTOLOAD_ENV = "PROXCORE_DISABLE_PLUGIN_AUTOLOAD"
DISABLE_ENV = "PROXCORE_DISABLE_PLUGINS"
STRICT_ENV = "PROXCORE_STRICT_PLUGINS"

# kind -> (hook name, singular noun used in messages)
KINDS = {
    "dictionaries": ("proxcore_dictionaries", "dictionary"),
    "operators": ("proxcore_operators", "operator"),
    "regularizers": ("proxcore_regularizers", "regularizer"),
    "pursuits": ("proxcore_pursuits", "pursuit"),
}


class PluginError(RuntimeError):
    """A plugin failed: its import, one of its hooks, or its validation."""


class PluginConflictError(ValueError):
    """Two plugins claim one name (or one plugin name)."""


class ProxcorePluginWarning(UserWarning):
    """A plugin was disabled while loading entry points; the others were loaded."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered name: its factory and who provides it."""

    kind: str
    name: str
    factory: object
    plugin: str
    distribution: str | None = None
    version: str | None = None

    @property
    def provider(self) -> str:
        """``"plugin 'x' (dist 1.0)"``: the plugin and its distribution, for messages."""
        return _describe(self.plugin, self.distribution, self.version)


@dataclasses.dataclass(frozen=True)
class PluginRecord:
    """What happened to one plugin: ``status`` is loaded, failed or blocked."""

    name: str
    status: str
    distribution: str | None = None
    version: str | None = None
    error: str | None = None
    names: tuple = ()  # ((kind, name), ...)


def _describe(plugin, distribution, version):
    if distribution:
        return f"plugin {plugin!r} ({distribution} {version or '?'})"
    return f"plugin {plugin!r}"


def _close_matches(name, candidates):
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(map(repr, close))}?" if close else ""


class PluginManager:
    """A registry of dictionaries, operators, regularizers and pursuits, fed by plugins.

    Build one with :func:`make_manager`; :meth:`load` registers the essential
    plugin and, unless disabled, the ``proxcore`` entry points. Each test can
    use a fresh manager; the default one (used by ``pc.dictionary``,
    ``pc.pursuit``, ``pc.solve``) is built once, on first use.

    Examples
    --------
    >>> import proxcore as pc
    >>> m = pc.plugins.make_manager().load(autoload=False)
    >>> "fista" in m.names("pursuits")
    True
    """

    def __init__(self):
        self.pm = pluggy.PluginManager("proxcore")
        self.pm.add_hookspecs(hookspecs)
        self._entries = {kind: {} for kind in KINDS}
        self._records = {}
        self.loaded = False

    # ------------------------------------------------------------------ loading
    def load(self, *, autoload=None, strict=None):
        """Register the essential plugin, then (unless ``autoload`` is False) the entry points.

        Parameters
        ----------
        autoload : bool, optional
            Load the ``proxcore`` entry points; default: unless the
            environment variable ``PROXCORE_DISABLE_PLUGIN_AUTOLOAD`` is set.
        strict : bool, optional
            Raise on the first broken or conflicting plugin instead of
            warning; default: whether ``PROXCORE_STRICT_PLUGINS`` is set.

        Returns
        -------
        PluginManager
            ``self``, loaded (a second call does nothing).
        """
        if self.loaded:
            return self
        self.loaded = True
        if not self.pm.has_plugin("essential"):
            from . import __version__

            self.register(importlib.import_module(ESSENTIAL), name="essential",
                          distribution="proxcore", version=__version__)
        if autoload is None:
            autoload = not os.environ.get(AUTOLOAD_ENV)
        if strict is None:
            strict = bool(os.environ.get(STRICT_ENV))
        if autoload:
            self.load_entrypoints(strict=strict)
        return self

    def load_entrypoints(self, group=ENTRY_POINT_GROUP, *, strict=False):
        """Register every entry point of ``group``; a broken one is disabled with a warning.

        pluggy's own ``load_setuptools_entrypoints`` stops at the first plugin
        that fails to import and silently skips a second distribution using
        an entry-point name already taken; this loop does neither.
        """
        blocked = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
        seen = {}  # entry-point name -> description of the first one
        for ep in sorted(entry_points(group=group), key=_entrypoint_order):
            dist, version = _distribution(ep)
            where = _describe(ep.name, dist, version)
            if ep.name in blocked:
                self._records[ep.name] = PluginRecord(ep.name, "blocked", dist, version,
                                                      f"blocked by {DISABLE_ENV}")
                continue
            if ep.name in seen or self.pm.has_plugin(ep.name):
                first = seen.get(ep.name, _describe(ep.name, None, None))
                error = PluginConflictError(
                    f"plugin name {ep.name!r} is claimed by two entry points: {first} and {where}; "
                    f"the second is not loaded (uninstall one, or block it with {DISABLE_ENV})."
                )
                self._fail(f"{ep.name}@{dist}", dist, version, error, strict)
                continue
            seen[ep.name] = where
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not stop the others
                error = PluginError(
                    f"{where} failed to import ({ep.value}): {type(exc).__name__}: {exc}; "
                    "it is disabled, the other plugins are loaded."
                )
                error.__cause__ = exc
                self._fail(ep.name, dist, version, error, strict)
                continue
            if getattr(getattr(plugin, "__spec__", None), "_initializing", False):
                # the module is still executing (it triggered this load by using the registry at import
                # time): its hooks do not exist yet, and registering it would silently add nothing
                error = PluginError(
                    f"{where} was still being imported when the plugins were loaded (it uses the registry "
                    "at import time, a circular import); it is disabled."
                )
                self._fail(ep.name, dist, version, error, strict)
                continue
            try:
                self.register(plugin, name=ep.name, distribution=dist, version=version)
            except (PluginError, PluginConflictError) as exc:
                self._fail(ep.name, dist, version, exc, strict)
        return self

    def _fail(self, name, dist, version, error, strict):
        self._records[name] = PluginRecord(name, "failed", dist, version, str(error))
        if strict:
            raise error
        warnings.warn(str(error), ProxcorePluginWarning, stacklevel=4)

    # ----------------------------------------------------------------- register
    def register(self, plugin, name=None, *, distribution=None, version=None):
        """Register ``plugin`` (a module or object with hook implementations) and merge its names.

        All or nothing: if any of its names is taken, a hook raises or
        returns something other than a mapping of names to callables, or a
        hook is misspelt, nothing of it is registered and the registry stays
        as it was.

        Parameters
        ----------
        plugin : module or object
        name : str, optional
            The plugin's name (default: the module's or object's ``__name__``,
            else pluggy's canonical name).
        distribution, version : str, optional
            The distribution providing it, for messages and ``proxcore plugins``.

        Returns
        -------
        str
            The plugin's name.

        Raises
        ------
        PluginConflictError
            A name (or the plugin's name) is already registered; the message
            names both plugins.
        PluginError
            A hook raised, returned a bad value, or is unknown/unmarked.
        """
        if name is None:
            name = getattr(plugin, "__name__", None) or self.pm.get_canonical_name(plugin)
        if not isinstance(name, str) or not name:
            raise InvalidParameterError(f"The 'name' parameter of register must be a non-empty str; got {name!r}.")
        where = _describe(name, distribution, version)
        if self.pm.has_plugin(name) or self.pm.is_registered(plugin):
            other = name if self.pm.has_plugin(name) else self.pm.get_name(plugin)
            raise PluginConflictError(
                f"cannot register {where}: a plugin named {other!r} is already registered "
                f"({self._record_description(other)}); pass another name= or unregister it first."
            )
        _check_api(plugin, where)
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"{where} is not a valid proxcore plugin: {exc}") from exc
        try:
            self._check_hooks(plugin, where)
            collected = self._collect(plugin, name, distribution, version, where)
        except BaseException:
            self.pm.unregister(plugin, name=name)
            raise
        for entry in collected:
            self._entries[entry.kind][entry.name] = entry
        self._records[name] = PluginRecord(name, "loaded", distribution, version, None,
                                           tuple((e.kind, e.name) for e in collected))
        return name

    def _record_description(self, name):
        record = self._records.get(name)
        return _describe(name, record.distribution, record.version) if record else _describe(name, None, None)

    def _check_hooks(self, plugin, where):
        """Misspelt hooks (pluggy's ``check_pending``) and hook-named functions without the marker."""
        hooks = [h for h, _ in KINDS.values()]
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            unknown = [name for name, caller in vars(self.pm.hook).items()
                       if not caller.has_spec() and any(i.plugin is plugin for i in caller.get_hookimpls())]
            bad = unknown[0] if unknown else "?"
            raise PluginError(f"{where} implements an unknown hook {bad!r}.{_close_matches(bad, hooks)} "
                              f"The hooks are: {', '.join(hooks)}.") from exc
        implemented = {impl.function.__name__ for hook, _ in KINDS.values()
                       for impl in getattr(self.pm.hook, hook).get_hookimpls() if impl.plugin is plugin}
        for attr in dir(plugin):
            if attr.startswith("proxcore_") and attr not in implemented:
                value = getattr(plugin, attr, None)
                if inspect.isroutine(value):
                    if attr in hooks:
                        raise PluginError(f"{where} defines {attr}() without the @pc.hookimpl marker.")
                    raise PluginError(f"{where} defines {attr}(), which is not a proxcore hook."
                                      f"{_close_matches(attr, hooks)} The hooks are: {', '.join(hooks)}.")

    def _collect(self, plugin, name, distribution, version, where):
        collected = []
        for kind, (hook, noun) in KINDS.items():
            for impl in getattr(self.pm.hook, hook).get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                try:
                    mapping = impl.function()
                except Exception as exc:
                    raise PluginError(f"{where} failed in hook {hook}: {type(exc).__name__}: {exc}") from exc
                if mapping is None:
                    continue
                if not isinstance(mapping, Mapping):
                    raise PluginError(f"{where}: hook {hook} must return a mapping of names to factories; "
                                      f"got {type(mapping).__name__}.")
                for key, factory in mapping.items():
                    if not isinstance(key, str) or not key or key != key.strip():
                        raise PluginError(f"{where}: hook {hook} returned the name {key!r}; names are non-empty "
                                          "str without surrounding spaces.")
                    if not callable(factory):
                        raise PluginError(f"{where}: hook {hook} maps {key!r} to {factory!r}, which is not callable.")
                    existing = self._entries[kind].get(key)
                    if existing is not None:
                        raise PluginConflictError(
                            f"{noun} {key!r} is provided by both {existing.provider} and {where}; "
                            f"the second is refused (unregister or block one of them with {DISABLE_ENV})."
                        )
                    collected.append(Entry(kind, key, factory, name, distribution, version))
        return collected

    def unregister(self, name):
        """Remove the plugin named ``name`` and every name it provides (not the essential plugin)."""
        if name == "essential":
            raise InvalidParameterError("the essential plugin (the core engines) cannot be unregistered.")
        if not self.pm.has_plugin(name):
            raise InvalidParameterError(f"Unknown plugin {name!r}.{_close_matches(name, self._plugin_names())}")
        self.pm.unregister(name=name)
        for kind in KINDS:
            self._entries[kind] = {k: e for k, e in self._entries[kind].items() if e.plugin != name}
        self._records.pop(name, None)

    def _plugin_names(self):
        return [n for n, _ in self.pm.list_name_plugin()]

    def check_pending(self):
        """Raise :class:`pluggy.PluginValidationError` if any registered hookimpl matches no hook."""
        self.pm.check_pending()

    # ------------------------------------------------------------------- lookup
    def entry(self, kind, name) -> Entry:
        """The :class:`Entry` registered as ``name`` among ``kind`` (e.g. ``"pursuits"``)."""
        if kind not in KINDS:
            raise InvalidParameterError(f"Unknown kind {kind!r}; the kinds are {', '.join(KINDS)}.")
        noun = KINDS[kind][1]
        if not isinstance(name, str):
            raise InvalidParameterError(f"The name of a {noun} must be a str; got {name!r} of type "
                                        f"{type(name).__name__}.")
        entries = self._entries[kind]
        try:
            return entries[name]
        except KeyError:
            pass
        refused = self._refused_claims(kind, name)
        if refused:
            raise PluginConflictError(refused)
        raise InvalidParameterError(
            f"Unknown {noun} {name!r}.{_close_matches(name, entries)} "
            f"Available {kind}: {', '.join(sorted(entries)) or 'none'}."
        )

    def _refused_claims(self, kind, name):
        # a name whose second claimant was refused at autoload: say so instead of "unknown"
        for record in self._records.values():
            if record.status == "failed" and record.error and f"{KINDS[kind][1]} {name!r} is provided by both" in record.error:
                return record.error
        return None

    def pursuit(self, name):
        """The pursuit registered as ``name``: ``pursuit(problem, **options) -> Result``."""
        return self.entry("pursuits", name).factory

    def dictionary(self, name, **params):
        """Build the dictionary ``name`` with ``params``; a :class:`proxcore.LinearOperator`."""
        return self._build("dictionaries", name, params, _linear_operator_type())

    def operator(self, name, **params):
        """Build the operator ``name`` with ``params``; a :class:`proxcore.LinearOperator`."""
        return self._build("operators", name, params, _linear_operator_type())

    def regularizer(self, name, **params):
        """Build the regularizer ``name`` with ``params``; a :class:`proxcore.Regularizer`."""
        from .regularizers import Regularizer

        return self._build("regularizers", name, params, Regularizer)

    def _build(self, kind, name, params, expected):
        entry = self.entry(kind, name)
        try:
            obj = entry.factory(**params)
        except Exception as exc:  # the type is the factory's (bad parameters stay ValueError/TypeError)
            exc.add_note(f"raised by {KINDS[kind][1]} {name!r} from {entry.provider}")
            raise
        if not isinstance(obj, expected):
            raise PluginError(
                f"{KINDS[kind][1]} {name!r} from {entry.provider} returned {type(obj).__name__}, "
                f"not a pc.{expected.__name__}."
            )
        return obj

    def names(self, kind=None):
        """Sorted registered names of ``kind``, or a dict ``{kind: names}`` for every kind."""
        if kind is None:
            return {k: sorted(self._entries[k]) for k in KINDS}
        if kind not in KINDS:
            raise InvalidParameterError(f"Unknown kind {kind!r}; the kinds are {', '.join(KINDS)}.")
        return sorted(self._entries[kind])

    def entries(self, kind=None):
        """Every :class:`Entry` (of ``kind``), sorted by kind then name."""
        kinds = KINDS if kind is None else [kind]
        return [self._entries[k][n] for k in kinds for n in sorted(self._entries[k])]

    def report(self):
        """A :class:`PluginRecord` per plugin seen: loaded, failed (with the error) or blocked."""
        return list(self._records.values())


def _entrypoint_order(ep):
    dist, _ = _distribution(ep)
    return (dist != "proxcore", (dist or "").lower(), ep.name)


def _distribution(ep):
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    try:
        return dist.metadata["Name"], dist.version
    except Exception:  # a broken METADATA file names nothing, but must not stop loading
        return None, None


def _check_api(plugin, where):
    api = getattr(plugin, "PROXCORE_PLUGIN_API", None)
    if api is None:
        return
    ok = (isinstance(api, tuple) and len(api) == 2 and all(isinstance(v, int) for v in api))
    if not ok or api[0] != API_VERSION[0] or api[1] > API_VERSION[1]:
        raise PluginError(
            f"{where} requires the proxcore plugin API {api!r}, but this proxcore provides "
            f"{API_VERSION!r} (same major version, minor at most {API_VERSION[1]})."
        )


def _linear_operator_type():
    from .operators import LinearOperator

    return LinearOperator


# ------------------------------------------------------------ default manager
_default = None


def make_manager() -> PluginManager:
    """A fresh, empty :class:`PluginManager`; call ``.load()`` on it to fill it."""
    return PluginManager()


def load(*, autoload=None, strict=None) -> PluginManager:
    """Build and load the default manager once, and return it.

    Called on first use of the default registry (``pc.dictionary``,
    ``pc.pursuit``, ``pc.solve``, ``pc.plugins.register`` ...), not while
    ``proxcore`` itself is being imported: a plugin package that imports
    proxcore at its top would otherwise be loaded half-initialised, with no
    hooks yet, and silently register nothing.
    """
    global _default
    if _default is None:
        manager = make_manager()
        _default = manager
        try:
            manager.load(autoload=autoload, strict=strict)
        except BaseException:
            _default = None
            raise
    return _default


def get_manager() -> PluginManager:
    """The default manager, behind ``pc.dictionary``, ``pc.pursuit`` and ``pc.solve``; loaded on first use."""
    if _default is None:
        return load()
    if not _default.loaded:  # e.g. an empty manager made the default with use(): fill it before use
        _default.load()
    return _default


@contextlib.contextmanager
def use(manager):
    """Make ``manager`` the default within a ``with`` block (for tests).

    Examples
    --------
    >>> import proxcore as pc
    >>> fresh = pc.plugins.make_manager().load(autoload=False)
    >>> with pc.plugins.use(fresh):
    ...     "omp" in pc.plugins.names("pursuits")       # built-ins not autoloaded
    False
    """
    global _default
    if not isinstance(manager, PluginManager):
        raise InvalidParameterError(f"use() expects a PluginManager; got {type(manager).__name__}.")
    previous, _default = _default, manager
    try:
        yield manager
    finally:
        _default = previous


def register(plugin, name=None):
    """Register ``plugin`` (a module or object with ``@pc.hookimpl`` hooks) in the default manager.

    Examples
    --------
    >>> import proxcore as pc
    >>> class Plugin:
    ...     @pc.hookimpl
    ...     def proxcore_regularizers(self):
    ...         return {"my-l1": pc.L1}
    >>> with pc.plugins.use(pc.plugins.make_manager().load(autoload=False)):
    ...     _ = pc.plugins.register(Plugin(), name="mine")
    ...     pc.plugins.regularizer("my-l1", lam=0.5)
    L1(lam=0.5, nonneg=False)
    """
    return get_manager().register(plugin, name)


def unregister(name):
    """Remove the plugin ``name``, and every name it provides, from the default manager.

    Parameters
    ----------
    name : str
        The plugin's name: the one :func:`register` returned, or an entry
        point's name (``"pursuits"``, ``"regularizers"``, ...).

    Returns
    -------
    None

    Raises
    ------
    proxcore.InvalidParameterError
        ``name`` is not a registered plugin (with close matches), or is the
        essential plugin, which cannot be removed.

    Examples
    --------
    >>> import proxcore as pc
    >>> class Plugin:
    ...     @pc.hookimpl
    ...     def proxcore_regularizers(self):
    ...         return {"my-l1": pc.L1}
    >>> with pc.plugins.use(pc.plugins.make_manager().load(autoload=False)):
    ...     _ = pc.plugins.register(Plugin(), name="mine")
    ...     pc.plugins.unregister("mine")
    ...     pc.plugins.names("regularizers")
    []
    """
    get_manager().unregister(name)


def dictionary(name, **params):
    """The registered dictionary ``name`` built with ``params``: a :class:`proxcore.LinearOperator`.

    Examples
    --------
    >>> import proxcore as pc
    >>> D = pc.dictionary("dct", n=8, m=16)
    >>> D.out_shape, D.in_shape
    ((8,), (16,))
    """
    return get_manager().dictionary(name, **params)


def operator(name, **params):
    """The registered operator ``name`` built with ``params``: a :class:`proxcore.LinearOperator`.

    Spec files name the operators on the edges of a graph this way.

    Parameters
    ----------
    name : str
        A name registered through the ``proxcore_operators`` hook (built in:
        ``matrix``, ``identity``, ``convolution``).
    **params
        Passed to the factory.

    Returns
    -------
    proxcore.LinearOperator

    Raises
    ------
    proxcore.InvalidParameterError
        Unknown name (with close matches); the factory's own errors keep
        their type, with a note naming the plugin.
    PluginError
        The factory returned something other than a linear operator.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> A = pc.plugins.operator("matrix", array=np.ones((2, 3)))
    >>> A.in_shape, A.out_shape
    ((3,), (2,))
    >>> pc.plugins.operator("identity", shape=4) @ np.arange(4.0)
    array([0., 1., 2., 3.])
    """
    return get_manager().operator(name, **params)


def regularizer(name, **params):
    """The registered regularizer ``name`` built with ``params``: a :class:`proxcore.Regularizer`.

    Spec files name regularizers this way (``regularizer = { name = "l1", lam = 0.1 }``).

    Parameters
    ----------
    name : str
        A name registered through the ``proxcore_regularizers`` hook (built
        in: ``zero``, ``l1``, ``l0``, ``l0-ball``, ``l0inf``,
        ``analysis-l1``).
    **params
        Passed to the factory.

    Returns
    -------
    proxcore.Regularizer

    Raises
    ------
    proxcore.InvalidParameterError
        Unknown name (with close matches); the factory's own errors keep
        their type, with a note naming the plugin.
    PluginError
        The factory returned something other than a regularizer.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> g = pc.plugins.regularizer("l1", lam=0.5)
    >>> g
    L1(lam=0.5, nonneg=False)
    >>> g.prox(np.array([2.0, -0.2]), step=1.0)       # soft thresholding at step·lam
    array([1.5, 0. ])
    """
    return get_manager().regularizer(name, **params)


def pursuit(name):
    """The registered pursuit ``name``: a callable ``pursuit(problem, **options) -> Result``.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> omp = pc.pursuit("omp")
    >>> res = omp(pc.chain(np.array([0.0, 2.0, 0.0]), [(np.eye(3), pc.L0Ball(1))]))
    >>> res.x
    array([0., 2., 0.])
    """
    return get_manager().pursuit(name)


def names(kind=None):
    """Registered names of ``kind`` (or of every kind) in the default manager.

    Parameters
    ----------
    kind : {"dictionaries", "operators", "regularizers", "pursuits"}, optional
        One kind; default every kind.

    Returns
    -------
    list of str or dict
        The sorted names of ``kind``, or ``{kind: sorted names}`` for every
        kind.

    Raises
    ------
    proxcore.InvalidParameterError
        An unknown kind.

    Examples
    --------
    >>> import proxcore as pc
    >>> "omp" in pc.plugins.names("pursuits")
    True
    >>> sorted(pc.plugins.names())
    ['dictionaries', 'operators', 'pursuits', 'regularizers']
    """
    return get_manager().names(kind)


def report():
    """What happened to each plugin of the default manager: loaded, failed (with the error) or blocked.

    Returns
    -------
    list of PluginRecord
        One record per plugin seen: its name, ``status`` (``"loaded"``,
        ``"failed"`` or ``"blocked"``), distribution and version, the error
        of a plugin that did not load, and the ``(kind, name)`` pairs a
        loaded plugin provides.

    Examples
    --------
    >>> import proxcore as pc
    >>> records = {r.name: r for r in pc.plugins.report()}
    >>> records["essential"].status, records["regularizers"].distribution
    ('loaded', 'proxcore')
    >>> ("regularizers", "l1") in records["regularizers"].names
    True
    """
    return get_manager().report()
