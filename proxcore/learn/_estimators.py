"""The scikit-learn style estimators: :class:`LISTA` and :class:`UnrolledClassifier`."""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
import scipy.sparse as sp

from .._validation import ConvergenceWarning, InvalidParameterError, check_array, check_positive_int, check_weights
from . import _networks as nets
from ._train import (CLASSIFIER_BASES, TRANSFORMER_BASES, EstimatorMixin, check_random_state,
                     check_training_options, check_X, train)

__all__ = ["LISTA", "UnrolledClassifier"]


def _dictionary(D, owner):
    from ..operators import Matrix

    if isinstance(D, Matrix):
        D = D.array.toarray() if sp.issparse(D.array) else D.array
    D = check_array(D, "D")
    if D.ndim != 2 or 0 in D.shape:
        raise InvalidParameterError(
            f"The 'D' parameter of {owner} must be a 2-D array (n_features, n_components), atoms as columns; "
            f"got shape {D.shape}."
        )
    if not np.linalg.norm(D, 2) > 0:
        raise InvalidParameterError(f"The 'D' parameter of {owner} is zero.")
    return D


class LISTA(EstimatorMixin, *TRANSFORMER_BASES):
    r"""Learned ISTA (Gregor & LeCun 2010): a ``K``-stage network trained to output the Lasso codes of ``D``.

    The Lasso codes of a signal ``y`` are
    ``x*(y) = argmin_x ½‖y − Dx‖² + λ‖x‖₁``; ISTA reaches them by
    ``x ← S_{ηλ}(x − ηDᵀ(Dx − y))``. LISTA unrolls ``K = n_layers`` such
    iterations and learns their weights to minimise
    ``(1/2N) Σ_j ‖x^K(y_j) − x*(y_j)‖²`` on the training signals. With
    ``P_θ`` the prox of ``λ‖·‖₁`` at the per-atom steps ``θ`` (soft
    thresholding at ``θλ``), the variants are:

    - ``"lista"``: ``x^{k+1} = P_{θ_{k+1}}(W y + S x^k)``, ``x¹ = P_{θ_1}(W y)``,
      ``W`` and ``S`` shared, one step (threshold) vector per stage;
    - ``"coupled"`` (LISTA-CP): ``x^k = P_{θ_k}(x^{k−1} + W_kᵀ(y − Dx^{k−1}))``;
    - ``"step"``: ``x^k = P_{θ_k}(x^{k−1} − η_k Dᵀ(Dx^{k−1} − y))``.

    Every variant starts as exactly ``K`` iterations of ISTA with step
    ``η = 1/‖D‖²`` (``W = ηDᵀ``, ``S = I − ηDᵀD``, ``θ_k = η``; for the ℓ1
    norm the network learns the thresholds ``θ_kλ`` directly, from ``ηλ``,
    as Gregor & LeCun do); training
    runs mini-batch Adam with exact gradients (reverse mode through the
    stages) and early stopping on a validation split.

    Any regularizer ``g`` that defines ``prox_vjp`` (see
    :class:`proxcore.Regularizer`) can take the ℓ1 norm's place: pass it as
    ``lam``; the targets are then ``argmin_x ½‖y − Dx‖² + g(x)`` and ``P_θ``
    is ``g``'s prox at the steps ``θ``, differentiated by its ``prox_vjp``.

    Follows scikit-learn's conventions: **rows are samples** (``fit(Y)`` with
    ``Y`` of shape ``(n_samples, n_features)``, ``transform`` returns
    ``(n_samples, n_components)``), unlike proxcore's solvers, which take
    signals as columns. Works in a :class:`sklearn.pipeline.Pipeline`.

    Parameters
    ----------
    D : array of shape (n_features, n_components) or pc.Matrix
        The Lasso dictionary, atoms as columns.
    lam : float or pc.Regularizer
        The Lasso weight ``λ > 0`` (the regularizer ``pc.L1(lam)``), or the
        regularizer ``g`` itself; it must define ``prox_vjp`` (``TypeError``
        otherwise).
    n_layers : int, default 10
        ``K``, the number of stages (ISTA iterations unrolled).
    variant : {"lista", "coupled", "step"}, default "lista"
    learning_rate, batch_size, max_epochs, validation_fraction, n_iter_no_change, tol
        Adam's step; mini-batch size; at most ``max_epochs`` passes; the held-out
        fraction (0: monitor the training loss); stop after ``n_iter_no_change``
        epochs without an improvement of ``tol``.
    target_max_iter, target_tol : int, float
        Budget of the FISTA solve that computes the training targets ``x*``.
    random_state : None, int or numpy Generator
        Drives the validation split and the mini-batch order.
    verbose : bool
        A progress bar on stderr.

    Attributes
    ----------
    params_ : dict of arrays
        The learned weights.
    history_ : dict
        ``train_loss``, ``val_loss`` per epoch and ``best_epoch``.
    n_parameters_ : int
    n_features_in_, n_components_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from proxcore.learn import LISTA
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((8, 12)); D /= np.linalg.norm(D, axis=0)
    >>> Y = rng.standard_normal((40, 8))                        # 40 signals as rows
    >>> est = LISTA(D, lam=0.1, n_layers=3, max_epochs=2, random_state=0).fit(Y)
    >>> est.transform(Y).shape
    (40, 12)
    >>> import proxcore as pc                                   # any regularizer with a prox_vjp
    >>> codes = LISTA(D, pc.L1(0.1, nonneg=True), n_layers=3, max_epochs=2, random_state=0).fit(Y).transform(Y)
    >>> bool((codes >= 0).all())
    True
    """

    def __init__(self, D, lam, n_layers=10, *, variant="lista", learning_rate=1e-3, batch_size=64,
                 max_epochs=200, validation_fraction=0.1, n_iter_no_change=10, tol=1e-6, target_max_iter=5000,
                 target_tol=1e-8, random_state=None, verbose=False):
        self.D = D
        self.lam = lam
        self.n_layers = n_layers
        self.variant = variant
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.target_max_iter = target_max_iter
        self.target_tol = target_tol
        self.random_state = random_state
        self.verbose = verbose

    def _validate(self):
        from ..regularizers import L1, Regularizer

        D = _dictionary(self.D, "LISTA")
        if isinstance(self.lam, Regularizer):
            reg = self.lam
            if type(reg).prox_vjp is Regularizer.prox_vjp:
                raise TypeError(
                    f"The 'lam' parameter of LISTA is a {type(reg).__name__}, which does not define prox_vjp(v, step) "
                    f"(the vector-Jacobian product of its prox), so LISTA cannot be trained through it; define "
                    f"{type(reg).__name__}.prox_vjp (see the pc.Regularizer docstring)."
                )
        else:
            lam = check_weights(self.lam, "lam", "LISTA")
            if not isinstance(lam, float) or lam <= 0:
                raise InvalidParameterError(
                    f"The 'lam' parameter of LISTA must be a float > 0 or a pc.Regularizer; got {self.lam!r}."
                )
            reg = L1(lam)
        K = check_positive_int(self.n_layers, "n_layers", "LISTA")
        if self.variant not in nets.VARIANTS:
            raise InvalidParameterError(
                f"The 'variant' parameter of LISTA must be one of {', '.join(map(repr, nets.VARIANTS))}; "
                f"got {self.variant!r}."
            )
        check_positive_int(self.target_max_iter, "target_max_iter", "LISTA")
        return D, reg, K

    def lasso_codes(self, Y):
        """The Lasso codes ``x*(y)`` of the rows of ``Y`` (rows are samples): FISTA in float64 to ``target_tol``
        (with a regularizer ``g`` as ``lam``: the minimisers of ``½‖y − Dx‖² + g(x)``).

        Warns (:class:`proxcore.ConvergenceWarning`) when FISTA stops at
        ``target_max_iter`` before ``target_tol``: the network would learn inexact targets.
        """
        import proxcore as pc

        D, reg, _ = self._validate()
        Y = check_X(Y, "Y", "LISTA", n_features=D.shape[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = pc.solve(pc.chain(np.ascontiguousarray(Y.T, dtype=np.float64), [(D.astype(np.float64), reg)]),
                           method="fista", tol=self.target_tol, max_iter=self.target_max_iter)
        if not res.converged:
            warnings.warn(f"LISTA: the Lasso targets did not converge ({res.message}); raise target_max_iter "
                          "or target_tol.", ConvergenceWarning, stacklevel=2)
        return np.ascontiguousarray(res.x.T, dtype=Y.dtype)

    def init_params(self, dtype=np.float64):
        """The parameters before training: ``n_layers`` iterations of ISTA with step ``1/‖D‖²``."""
        D, reg, K = self._validate()
        return nets.lista_init(D, K, self.variant, np.dtype(dtype), nets.lista_regularizer(reg)[1])

    def fit(self, Y, y=None):
        """Learn the weights on the signals ``Y`` (rows are samples); ``y`` is ignored."""
        D, reg, K = self._validate()
        options = check_training_options(self, "LISTA")
        rng = check_random_state(self.random_state, "LISTA")
        Y = check_X(Y, "Y", "LISTA", n_features=D.shape[0], min_samples=2)
        dtype = Y.dtype
        targets = self.lasso_codes(Y)
        Dd = D.astype(dtype)
        net_reg, scale = nets.lista_regularizer(reg)
        P = nets.lista_init(D, K, self.variant, dtype, scale)

        def loss_grad(P, Yb, Tb, need_grad=True):
            return nets.lista_loss_grad(P, Yb, Tb, Dd, K, self.variant, net_reg, need_grad=need_grad)

        self.params_, self.history_ = train(P, loss_grad, np.ascontiguousarray(Y.T), targets, rng=rng,
                                            options=options, desc=f"LISTA ({self.variant}, K={K})")
        self.n_features_in_, self.n_components_ = D.shape
        self.n_parameters_ = int(sum(v.size for v in self.params_.values()))
        self._D, self._fitted = Dd, (K, self.variant, net_reg)
        return self

    def transform(self, Y):
        """The network's codes ``x^K(y)`` of the rows of ``Y``: shape ``(n_samples, n_components)``."""
        self._check_fitted()
        Y = check_X(Y, "Y", "LISTA", n_features=self.n_features_in_)
        P = {k: v.astype(Y.dtype) for k, v in self.params_.items()}
        K, variant, reg = self._fitted  # as fitted, whatever set_params did since
        codes = nets.lista_codes(P, np.ascontiguousarray(Y.T), self._D.astype(Y.dtype), K, variant, reg)
        return np.ascontiguousarray(codes.T)

    def fit_transform(self, Y, y=None):
        """``fit(Y).transform(Y)``."""
        return self.fit(Y).transform(Y)


class UnrolledClassifier(EstimatorMixin, *CLASSIFIER_BASES):
    r"""A classifier whose features are ``K`` unrolled iterations of a multi-layer pursuit.

    The network maps a sample ``y`` to the deepest code ``γ_L`` of a
    multi-layer sparse model (dictionaries ``D_i`` of shape
    ``(m_{i−1}, m_i)``, biases ``b_i``, steps ``μ_i``; ``ReLU(u + b)`` is the
    non-negative ℓ1 prox at threshold ``−b``), then applies a linear head
    ``softmax(W γ_L + c)``. Methods (DESIGN §1):

    - ``"layered-thresholding"``: ``γ_i = ReLU(μ_i D_iᵀ γ_{i−1} + b_i)``, the
      feed-forward network (one pass, ``n_unroll = 1``);
    - ``"ml-ista"``: ``K`` iterations from ``γ_L = 0``: ``γ̂_{i−1} = D_i γ̂_i``,
      ``γ̂_L = γ_L``, then ``γ_i ← ReLU(γ̂_i − μ_i D_iᵀ(γ̂_{i−1} − γ_{i−1}) + b_i)``
      for ``i = 1..L``; its first iteration is the feed-forward pass;
    - ``"ml-fista"``: the same at the extrapolated point
      ``γ_L^k + ρ_k(γ_L^k − γ_L^{k−1})``, ``ρ_k`` FISTA's momentum;
    - ``"layered-bp"``: each layer in turn runs ``K`` ISTA iterations
      ``γ_i ← ReLU(γ_i − μ_i D_iᵀ(D_iγ_i − γ_{i−1}) + b_i)`` from zero.

    ML-FISTA's first momentum is zero, so with ``n_unroll = 2`` it coincides
    with ML-ISTA; they differ from ``n_unroll = 3`` on. All methods have the
    same parameters, so ``n_parameters_`` is the same
    for every method and every ``n_unroll`` at given layer sizes. The loss is
    the mean cross-entropy; gradients are exact (reverse mode through the
    iterations); training is mini-batch Adam with early stopping on a
    validation split (the parameters of the best validation epoch are kept).
    With fixed parameters ``b_i = −τ_iλ_i`` (``τ_i = μ_1⋯μ_i``) the ML-ISTA
    network is ``n_unroll`` iterations of ``pc.solve(..., method="ml-ista")``.

    Follows scikit-learn's conventions: **rows are samples** (``fit(X, y)``
    with ``X`` of shape ``(n_samples, n_features)``), unlike proxcore's solvers,
    which take signals as columns. Works in a :class:`sklearn.pipeline.Pipeline`
    (standardise the features first).

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(m_1, …, m_L)``, the number of atoms of each layer (the input size
        ``m_0`` is the number of features of ``X``).
    method : {"layered-thresholding", "ml-ista", "ml-fista", "layered-bp"}, default "ml-ista"
    n_unroll : int, optional
        ``K``, the number of iterations: default 1 for
        ``"layered-thresholding"`` (the only value it takes), 3 otherwise.
    kernel_size : int or tuple of int, optional
        Convolutional layers: ``D_i`` is a :class:`proxcore.Convolution` with
        ``m_i`` filters of this size on ``m_{i−1}`` channels (circular, the
        codes have the image's size), learned filters (their gradients are
        circular correlations). Default: dense layers.
    image_shape : tuple of int, optional
        With ``kernel_size``: the shape of one image; the rows of ``X`` are
        flattened ``(channels, *image_shape)`` images.
    learning_rate, batch_size, max_epochs, validation_fraction, n_iter_no_change, tol
        Adam's step; mini-batch size; at most ``max_epochs`` passes; the held-out
        fraction for early stopping (0: monitor the training loss); stop after
        ``n_iter_no_change`` epochs without the validation loss improving by ``tol``.
    random_state : None, int or numpy Generator
        Drives the initialisation, the validation split and the batch order:
        the same seed gives the same model.
    verbose : bool
        A progress bar on stderr.

    Attributes
    ----------
    classes_ : array
    params_ : dict of arrays
        ``D{i}``, ``b{i}``, ``mu{i}``, and the head ``W``, ``c``.
    history_ : dict
        ``train_loss``, ``val_loss``, ``val_score`` (accuracy) per epoch, ``best_epoch``.
    n_parameters_ : int
        ``Σ_i (m_{i−1}m_i + m_i + 1) + (m_L + 1)·n_classes`` for dense layers
        (``m_{i−1}m_i`` becomes ``m_{i−1}m_i·prod(kernel)`` and the head
        ``(m_L·prod(image_shape) + 1)·n_classes`` for convolutional ones).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from proxcore.learn import UnrolledClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 5)); y = (X[:, 0] > 0).astype(int)
    >>> clf = UnrolledClassifier((8, 4), method="ml-fista", n_unroll=2, max_epochs=3, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape, clf.n_parameters_        # 5·8+8+1 + 8·4+4+1 + 4·2+2
    ((3,), 96)
    """

    def __init__(self, layer_sizes, method="ml-ista", n_unroll=None, *, kernel_size=None, image_shape=None,
                 learning_rate=1e-2, batch_size=64, max_epochs=100, validation_fraction=0.1, n_iter_no_change=10,
                 tol=1e-4, random_state=None, verbose=False):
        self.layer_sizes = layer_sizes
        self.method = method
        self.n_unroll = n_unroll
        self.kernel_size = kernel_size
        self.image_shape = image_shape
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    def _validate(self):
        owner = "UnrolledClassifier"
        sizes = self.layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        try:
            sizes = tuple(sizes)
        except TypeError:
            sizes = None
        if not sizes or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
                                for s in sizes):
            raise InvalidParameterError(
                f"The 'layer_sizes' parameter of {owner} must be a non-empty sequence of positive ints "
                f"(atoms per layer); got {self.layer_sizes!r}."
            )
        if self.method not in nets.METHODS:
            raise InvalidParameterError(
                f"The 'method' parameter of {owner} must be one of {', '.join(map(repr, nets.METHODS))}; "
                f"got {self.method!r}."
            )
        if self.n_unroll is None:
            K = 1 if self.method == "layered-thresholding" else 3
        else:
            K = check_positive_int(self.n_unroll, "n_unroll", owner)
            if self.method == "layered-thresholding" and K != 1:
                raise InvalidParameterError(
                    f"The 'n_unroll' parameter of {owner} must be 1 (or None) for method='layered-thresholding', "
                    f"a single pass; got {self.n_unroll!r}. Use method='ml-ista' to unroll iterations."
                )
        return tuple(int(s) for s in sizes), K

    def _geometry(self, n_features):
        """``(m_0, kernel_shape, image_shape)``: dense layers give ``(n_features, None, None)``."""
        owner = "UnrolledClassifier"
        if self.kernel_size is None:
            if self.image_shape is not None:
                raise InvalidParameterError(
                    f"The 'image_shape' parameter of {owner} is used by convolutional layers only; "
                    "pass kernel_size too, or leave image_shape=None."
                )
            return n_features, None, None

        def positive_ints(value, name):
            value = (value,) if isinstance(value, numbers.Integral) else value
            try:
                value = tuple(value)
            except TypeError:
                value = ()
            if not value or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
                                    for v in value):
                raise InvalidParameterError(
                    f"The {name!r} parameter of {owner} must be a positive int or a tuple of positive ints; "
                    f"got {getattr(self, name)!r}."
                )
            return tuple(int(v) for v in value)

        if self.image_shape is None:
            raise InvalidParameterError(
                f"The 'image_shape' parameter of {owner} is required with kernel_size (e.g. (8, 8) for digits)."
            )
        image = positive_ints(self.image_shape, "image_shape")
        kernel = positive_ints(self.kernel_size, "kernel_size")
        if len(kernel) == 1:
            kernel = kernel * len(image)
        if len(kernel) != len(image) or any(k > n for k, n in zip(kernel, image)):
            raise InvalidParameterError(
                f"The 'kernel_size' parameter of {owner} must have one size per image axis, each at most the "
                f"image's; got kernel_size={self.kernel_size!r} for image_shape={image}."
            )
        if n_features % math.prod(image):
            raise InvalidParameterError(
                f"Input X of {owner} has {n_features} features, not a multiple of image_shape {image} "
                f"(rows must be flattened (channels, *image_shape) images)."
            )
        return n_features // math.prod(image), kernel, image

    def init_params(self, n_features, n_classes, dtype=np.float64):
        """The parameters before training (the same draw for every method at a given ``random_state``)."""
        sizes, _ = self._validate()
        m0, kernel, image = self._geometry(n_features)
        rng = check_random_state(self.random_state, "UnrolledClassifier")
        return nets.ml_init((m0,) + sizes, n_classes, rng, np.dtype(dtype), kernel, image)

    def fit(self, X, y):
        """Train on ``X`` (``(n_samples, n_features)``, rows are samples) and labels ``y``."""
        owner = "UnrolledClassifier"
        sizes, K = self._validate()
        options = check_training_options(self, owner)
        rng = check_random_state(self.random_state, owner)
        X = check_X(X, "X", owner, min_samples=2)
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise InvalidParameterError(
                f"Input y of {owner} must be 1-D with one label per row of X ({X.shape[0]}); got shape {y.shape}."
            )
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise InvalidParameterError(f"Input y of {owner} contains NaN or infinity.")
        classes, labels = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise InvalidParameterError(f"Input y of {owner} needs at least 2 classes; got {classes.size}.")
        dtype = X.dtype
        m0, kernel, image = self._geometry(X.shape[1])
        P = nets.ml_init((m0,) + sizes, classes.size, rng, dtype, kernel, image)
        method = self.method

        def loss_grad(P, Xb, Tb, need_grad=True):
            return nets.ml_loss_grad(P, Xb, Tb, method, K, need_grad=need_grad, signal_shape=image)

        def evaluate(P, Xb, Tb):
            return float(np.mean(nets.ml_logits(P, Xb, method, K, image).argmax(axis=0) == Tb))

        self.params_, self.history_ = train(P, loss_grad, np.ascontiguousarray(X.T), labels, rng=rng,
                                            options=options, desc=f"{method} (K={K})", evaluate=evaluate)
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        self.n_unroll_ = K
        self._image_shape, self._method = image, method
        self.n_parameters_ = int(sum(v.size for v in self.params_.values()))
        return self

    def decision_function(self, X):
        """The logits ``W γ_L + c``, shape ``(n_samples, n_classes)``."""
        self._check_fitted()
        X = check_X(X, "X", "UnrolledClassifier", n_features=self.n_features_in_)
        P = {k: v.astype(X.dtype) for k, v in self.params_.items()}
        logits = nets.ml_logits(P, np.ascontiguousarray(X.T), self._method, self.n_unroll_, self._image_shape)
        return np.ascontiguousarray(logits.T)

    def predict_proba(self, X):
        """Softmax of the logits, shape ``(n_samples, n_classes)``."""
        z = self.decision_function(X)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, X):
        """The predicted labels, shape ``(n_samples,)``."""
        scores = self.decision_function(X)  # checks that the model is fitted
        return self.classes_[scores.argmax(axis=1)]

    def score(self, X, y):
        """Mean accuracy on ``(X, y)``."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def transform(self, X):
        """The deepest codes ``γ_L`` of the rows of ``X``: shape ``(n_samples, m_L)`` (``m_L·prod(image_shape)``
        for convolutional layers, flattened from ``(m_L, *image_shape)``)."""
        from ._autodiff import Tape

        self._check_fitted()
        X = check_X(X, "X", "UnrolledClassifier", n_features=self.n_features_in_)
        t = Tape()
        V = {k: t.const(v.astype(X.dtype)) for k, v in self.params_.items() if k not in ("W", "c")}
        Y = np.ascontiguousarray(X.T)
        image = self._image_shape
        if image is not None:
            Y = Y.reshape((-1,) + image + (Y.shape[-1],))
        codes = nets.ml_forward(t, V, t.const(Y), self._method, self.n_unroll_, image).value
        return np.ascontiguousarray(codes.reshape(-1, codes.shape[-1]).T)
