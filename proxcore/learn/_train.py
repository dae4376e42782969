"""Shared machinery of the learned estimators: parameters, Adam, early stopping, progress bar."""

from __future__ import annotations

import inspect
import math
import numbers
import sys
import time

import numpy as np

from .._validation import InvalidParameterError, check_array, check_positive_int, check_scalar

try:  # scikit-learn is optional: with it, the estimators carry its tags (Pipeline, clone, cross_val_score)
    from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

    CLASSIFIER_BASES = (ClassifierMixin, BaseEstimator)
    TRANSFORMER_BASES = (TransformerMixin, BaseEstimator)
except ImportError:  # pragma: no cover - scikit-learn is installed in the test environment
    CLASSIFIER_BASES = TRANSFORMER_BASES = ()

__all__ = ["EstimatorMixin", "CLASSIFIER_BASES", "TRANSFORMER_BASES", "NotFittedError", "check_random_state",
           "check_X", "train", "ProgressBar"]


class NotFittedError(InvalidParameterError, AttributeError):
    """Raised when ``predict``/``transform`` is called before ``fit``."""


class EstimatorMixin:
    """scikit-learn's ``get_params``/``set_params`` protocol (so ``clone`` and ``Pipeline`` work).

    Placed before scikit-learn's ``BaseEstimator`` (when installed), whose tags it then inherits.
    """

    @classmethod
    def _param_names(cls):
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep=True):
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise InvalidParameterError(
                    f"Invalid parameter {name!r} for {type(self).__name__}; valid parameters: {', '.join(valid)}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if not isinstance(v, np.ndarray))
        return f"{type(self).__name__}({args})"

    def _check_fitted(self):
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call 'fit' before using it."
            )


def check_random_state(seed, owner):
    """A fresh :class:`numpy.random.Generator` from ``None``, an int or a Generator (copied, never advanced)."""
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise InvalidParameterError(f"The 'random_state' parameter of {owner} must be >= 0; got {seed!r}.")
        return np.random.default_rng(seed)
    if isinstance(seed, np.random.Generator):
        return _copy_generator(seed)
    if isinstance(seed, np.random.RandomState):
        return np.random.default_rng(seed.randint(2**31 - 1))
    raise InvalidParameterError(
        f"The 'random_state' parameter of {owner} must be None, an int or a numpy Generator; got {seed!r}."
    )


def _copy_generator(gen):
    bg = type(gen.bit_generator)()
    bg.state = gen.bit_generator.state
    return np.random.Generator(bg)


def check_X(X, name, owner, *, n_features=None, min_samples=1):
    """``X`` of shape ``(n_samples, n_features)``: finite float32/float64, rows are samples (never modified)."""
    X = check_array(X, name)
    if X.ndim != 2:
        raise InvalidParameterError(
            f"Input {name} of {owner} must be a 2-D array (n_samples, n_features), rows are samples; "
            f"got shape {X.shape}. Reshape a single sample with {name}.reshape(1, -1)."
        )
    if X.shape[0] < min_samples:
        raise InvalidParameterError(
            f"Input {name} of {owner} needs at least {min_samples} sample(s); got {X.shape[0]}."
        )
    if n_features is not None and X.shape[1] != n_features:
        raise InvalidParameterError(
            f"Input {name} of {owner} has {X.shape[1]} features, but the estimator was fitted with {n_features}."
        )
    return X


def check_training_options(est, owner):
    """Validate the options every learned estimator shares; return them as a dict."""
    return {
        "learning_rate": check_scalar(est.learning_rate, "learning_rate", owner, low=0.0, low_open=True,
                                      high=math.inf, high_open=True),
        "batch_size": check_positive_int(est.batch_size, "batch_size", owner),
        "max_epochs": check_positive_int(est.max_epochs, "max_epochs", owner),
        "validation_fraction": check_scalar(est.validation_fraction, "validation_fraction", owner, low=0.0,
                                            high=1.0, high_open=True),
        "n_iter_no_change": check_positive_int(est.n_iter_no_change, "n_iter_no_change", owner),
        "tol": check_scalar(est.tol, "tol", owner, low=0.0, high=math.inf, high_open=True),
        "verbose": bool(est.verbose),
    }


class ProgressBar:
    """A one-line progress bar on stderr (no dependency): ``[#####.....] 5/10 loss 0.12``."""

    def __init__(self, total, desc, *, stream=None, width=24, enabled=True):
        self.total, self.desc, self.width, self.enabled = total, desc, width, enabled
        self.stream = sys.stderr if stream is None else stream
        self.start = time.perf_counter()

    def update(self, n, info=""):
        if not self.enabled:
            return
        filled = int(self.width * n / max(self.total, 1))
        elapsed = time.perf_counter() - self.start
        self.stream.write(f"\r{self.desc} [{'#' * filled}{'.' * (self.width - filled)}] {n}/{self.total} "
                          f"{elapsed:5.1f}s {info}   ")
        self.stream.flush()

    def close(self, info=""):
        if self.enabled:
            self.stream.write(f"\n{info}\n" if info else "\n")
            self.stream.flush()


def train(params, loss_grad, X, T, *, rng, options, desc, evaluate=None):
    """Mini-batch Adam on ``loss_grad(params, X_batch, T_batch) -> (loss, grads)`` with early stopping.

    ``X`` has samples as columns, ``T`` indexes samples along its first axis.
    A fraction ``validation_fraction`` of the samples (drawn with ``rng``) is
    held out; training stops after ``n_iter_no_change`` epochs without the
    validation loss improving by ``tol``, and the parameters of the best
    epoch are returned. Without a validation split the training loss is
    monitored instead. ``evaluate(params, X_val, T_val)`` (optional) adds a
    validation score to the history.
    """
    n = X.shape[1]
    perm = rng.permutation(n)
    n_val = int(round(options["validation_fraction"] * n))
    if options["validation_fraction"] > 0 and (n_val < 1 or n - n_val < 1):
        raise InvalidParameterError(
            f"validation_fraction={options['validation_fraction']} leaves an empty training or validation "
            f"set with {n} samples."
        )
    val, tr = perm[:n_val], perm[n_val:]
    lr, bs = options["learning_rate"], min(options["batch_size"], tr.size)
    b1, b2, eps = 0.9, 0.999, 1e-8
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v2 = {k: np.zeros_like(v) for k, v in params.items()}
    step = 0
    history = {"train_loss": [], "val_loss": [], "val_score": []}
    best, best_params, since = math.inf, {k: a.copy() for k, a in params.items()}, 0
    bar = ProgressBar(options["max_epochs"], desc, enabled=options["verbose"])
    for epoch in range(options["max_epochs"]):
        order = tr[rng.permutation(tr.size)]
        total = 0.0
        for start in range(0, order.size, bs):
            idx = order[start:start + bs]
            loss, grads = loss_grad(params, X[:, idx], T[idx])
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"{desc}: the training loss became {loss} at epoch {epoch + 1}; lower learning_rate."
                )
            total += loss * idx.size
            step += 1
            c1, c2 = 1 - b1 ** step, 1 - b2 ** step
            for k, g in grads.items():
                m[k] = b1 * m[k] + (1 - b1) * g
                v2[k] = b2 * v2[k] + (1 - b2) * g * g
                params[k] = params[k] - (lr * (m[k] / c1) / (np.sqrt(v2[k] / c2) + eps)).astype(params[k].dtype)
        history["train_loss"].append(total / tr.size)
        if n_val:
            val_loss, _ = loss_grad(params, X[:, val], T[val], need_grad=False)
            history["val_loss"].append(val_loss)
            if evaluate is not None:
                history["val_score"].append(evaluate(params, X[:, val], T[val]))
            monitored = val_loss
        else:
            monitored = history["train_loss"][-1]
        if monitored < best - options["tol"]:
            best, best_params, since = monitored, {k: a.copy() for k, a in params.items()}, 0
        else:
            since += 1
        info = f"loss {history['train_loss'][-1]:.4g}" + (f" val {history['val_loss'][-1]:.4g}" if n_val else "")
        bar.update(epoch + 1, info)
        if since >= options["n_iter_no_change"]:
            break
    bar.close()
    history = {k: np.array(v) for k, v in history.items()}
    history["best_epoch"] = int(np.argmin(history["val_loss"] if n_val else history["train_loss"])) + 1
    return best_params, history
