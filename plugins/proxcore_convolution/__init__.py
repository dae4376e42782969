"""Convolutional dictionaries, as a proxcore plugin.

Registers, through the ``proxcore`` entry-point group like any third-party
package, the dictionary and operator ``convolution``: a
:class:`proxcore.Convolution` from given filters, or from ``n_filters``
random unit-norm filters; and the pursuit ``conv-admm``, convolutional
basis pursuit by ADMM with the exact Fourier-domain x-update
(:func:`conv_admm`). (:class:`proxcore.L0Inf`, the stripe constraint,
is a core regularizer, named ``l0inf`` by the ``regularizers`` plugin.) A
spec can name it::

    [[layer]]
    dictionary = {name = "convolution", n_filters = 8, filter_shape = [5, 5], signal_shape = [32, 32]}
    regularizer = {name = "l1", lam = 0.1}

>>> import proxcore as pc
>>> D = pc.dictionary("convolution", n_filters=4, filter_shape=3, signal_shape=16, seed=0)
>>> D.in_shape, D.out_shape
((4, 16), (16,))
"""

from proxcore.plugins import hookimpl

from .admm import conv_admm
from .factories import convolution

PROXCORE_PLUGIN_API = (1, 0)

__all__ = ["convolution", "conv_admm"]


@hookimpl
def proxcore_dictionaries():
    return {"convolution": convolution}


@hookimpl
def proxcore_operators():
    return {"convolution": convolution}



@hookimpl
def proxcore_pursuits():
    return {"conv-admm": conv_admm}
