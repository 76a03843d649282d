"""The learning signal of (label-smoothed) cross-entropy, as chapter 2 derives it.

For logits ``z``, ``p = softmax(z)`` and any nonnegative target vector ``y``,
the loss ``L = -sum_k y_k log p_k`` has

    gradient  dL/dz   = (sum_k y_k) p - y          (= p - y when y sums to 1)
    Hessian   d2L/dz2 = (sum_k y_k) (diag(p) - p p^T)

so the curvature depends on the target only through its total mass, never on
how that mass is spread: label smoothing changes the gradient, not the
Hessian at a given ``p``.  With the smoothed target ``y_LS`` (uniform
convention, ``a = alpha``):

* at the uniform prediction ``p = u`` the gradient is ``(1 - a) (u - e_t)``,
  exactly ``1 - a`` times the hard-label gradient;
* at the one-hot prediction ``p = e_t`` it is ``a (e_t - u)``, a restoring
  force of norm ``a sqrt(1 - 1/K)`` that pushes the true logit back down;
* it vanishes only at ``p = y_LS``, reached at the finite logits ``log y_LS``.

In the off-target convention replace ``a`` by ``eps K / (K - 1)``.
"""

from __future__ import annotations

import numpy as np
import torch

from ._validation import as_logit_matrix, check_num_classes, reject_negative_smoothing
from .losses import ls_gradient
from .targets import smoothed_target_values, uniform_alpha

__all__ = [
    "softmax_hessian",
    "cross_entropy_gradient",
    "logit_gradient_norms",
    "uniform_prediction_factor",
    "one_hot_prediction_gradient",
    "restoring_force_norm",
    "gradient_component_bounds",
    "stationary_logits",
]


def _check_class_index(target: object, num_classes: int) -> None:
    """ValueError unless ``target`` is an integer class index in [0, num_classes)."""
    if (
        isinstance(target, bool)
        or not isinstance(target, (int, np.integer))
        or not 0 <= target < num_classes
    ):
        raise ValueError(
            f"target must be an integer class index in [0, {num_classes}), "
            f"got {target!r}"
        )


def softmax_hessian(logits):
    """Hessian of ``log sum_k exp(z_k)`` in ``z``: ``diag(p) - p p^T`` with ``p = softmax(z)``.

    This is the Hessian of the cross-entropy ``-sum_k y_k log p_k`` with respect
    to the logits for *every* target ``y`` that sums to 1, hard or smoothed
    (multiply by ``sum(y)`` otherwise). It is symmetric positive semidefinite,
    its rows sum to 0 (``1`` spans its null space), and its trace is
    ``1 - ||p||^2``.

    Args:
        logits: ``(K,)`` or ``(N, K)`` finite tensor or NumPy array.

    Returns:
        ``(K, K)`` or ``(N, K, K)``, the same type as ``logits``.

    Example:
        >>> softmax_hessian(torch.zeros(2))
        tensor([[ 0.2500, -0.2500],
                [-0.2500,  0.2500]])
    """
    z, as_numpy = as_logit_matrix(logits)
    p = torch.softmax(z, dim=-1)
    hess = torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)
    return hess.numpy() if as_numpy else hess


def cross_entropy_gradient(logits, target_probs):
    """Gradient of ``-sum_k y_k log softmax(z)_k`` in ``z`` for any nonnegative ``y``.

    ``(sum_k y_k) p - y``; equal to ``p - y`` when ``y`` sums to 1.

    Args:
        logits: ``(K,)`` or ``(N, K)`` finite tensor or NumPy array.
        target_probs: nonnegative, same shape as ``logits`` (need not sum to 1).

    Example:
        >>> cross_entropy_gradient(torch.zeros(2), torch.tensor([1.0, 1.0]))
        tensor([0., 0.])
    """
    z, as_numpy = as_logit_matrix(logits)
    y = torch.as_tensor(target_probs)
    if not y.dtype.is_floating_point:
        raise TypeError(f"target_probs must have a floating dtype, got {y.dtype}")
    if y.shape != z.shape:
        raise ValueError(
            f"target_probs must have the shape of logits {tuple(z.shape)}, got {tuple(y.shape)}"
        )
    if (y < 0).any() or not torch.isfinite(y).all():
        raise ValueError("target_probs must be finite and nonnegative")
    y = y.to(z.dtype)
    grad = y.sum(dim=-1, keepdim=True) * torch.softmax(z, dim=-1) - y
    return grad.numpy() if as_numpy else grad


def logit_gradient_norms(
    logits, target, alpha: float = 0.0, convention: str = "uniform"
):
    """Per-sample Euclidean norm ``||softmax(z_n) - y_LS,n||_2`` of the logit gradient.

    This is the size of the learning signal each sample sends into the network
    (the gradient of its own, unreduced LS loss with respect to its logits).

    Args:
        logits: ``(N, K)`` tensor or array; target: ``(N,)`` class indices or
            ``(N, K)`` probabilities; ``alpha``, ``convention`` as in ``ls_gradient``.

    Returns:
        ``(N,)`` norms, the same type as ``logits``.

    Example:
        >>> logit_gradient_norms(torch.zeros(1, 2), torch.tensor([0]))
        tensor([0.7071])
    """
    grad = ls_gradient(logits, target, alpha, convention)
    if isinstance(grad, np.ndarray):
        return np.linalg.norm(grad, axis=-1)
    return torch.linalg.vector_norm(grad, dim=-1)


def uniform_prediction_factor(alpha, num_classes: int, convention: str = "uniform"):
    """Ratio of the LS gradient to the hard-label gradient at the uniform prediction.

    At ``p = u``: ``u - y_LS = (1 - a)(u - e_t)``, so the ratio (of every
    component, hence of the norms) is ``1 - a`` in the uniform convention and
    ``1 - eps K / (K - 1)`` in the off-target one. Broadcasts over array ``alpha``.

    Example:
        >>> uniform_prediction_factor(0.1, 5, convention="off_target")
        0.875
    """
    a = uniform_alpha(alpha, num_classes, convention)
    out = 1.0 - np.asarray(a, dtype=float)
    return float(out) if out.ndim == 0 else out


def one_hot_prediction_gradient(
    alpha: float, num_classes: int, target: int = 0, convention: str = "uniform"
):
    """LS gradient ``e_t - y_LS = a (e_t - u)`` at the fully confident prediction ``p = e_t``.

    The limit of ``ls_gradient`` as the true logit goes to ``+inf``: positive on
    the true class (a descent step lowers its logit) and negative on the others.

    Returns:
        NumPy array of shape ``(K,)``.

    Example:
        >>> one_hot_prediction_gradient(0.3, 3).round(3)
        array([ 0.2, -0.1, -0.1])
    """
    k = check_num_classes(num_classes)
    _check_class_index(target, k)
    reject_negative_smoothing(alpha, convention, "one_hot_prediction_gradient")
    y_true, y_other = smoothed_target_values(alpha, k, convention)
    y = np.full(k, float(y_other))
    y[target] = float(y_true)
    e = np.zeros(k)
    e[target] = 1.0
    return e - y


def restoring_force_norm(alpha, num_classes: int, convention: str = "uniform"):
    """Norm of the LS gradient at the one-hot prediction: ``a sqrt(1 - 1/K)``.

    ``a`` is the uniform-convention smoothing (``eps K / (K - 1)`` for
    ``convention="off_target"``). Zero for hard labels. Broadcasts.

    Example:
        >>> round(restoring_force_norm(0.1, 10), 4)
        0.0949
    """
    k = check_num_classes(num_classes)
    a = np.asarray(uniform_alpha(alpha, k, convention), dtype=float)
    out = a * np.sqrt(1.0 - 1.0 / k)
    return float(out) if out.ndim == 0 else out


def gradient_component_bounds(alpha, num_classes: int, convention: str = "uniform"):
    """Range of each component of ``p - y_LS`` over all finite logits.

    ``p`` ranges over the open simplex, so the true-class component
    ``p_t - y_true`` fills the open interval ``(-y_true, 1 - y_true)`` and each
    other component ``p_k - y_other`` fills ``(-y_other, 1 - y_other)``.  For
    hard labels that is ``(-1, 0)`` and ``(0, 1)``: every component lies in
    ``(-1, 1)``.

    Returns:
        ``{"true": (low, high), "other": (low, high)}``, open-interval endpoints
        (infimum and supremum, not attained).

    Example:
        >>> gradient_component_bounds(0.0, 3)
        {'true': (-1.0, 0.0), 'other': (0.0, 1.0)}
    """
    y_true, y_other = smoothed_target_values(alpha, num_classes, convention)
    y_true, y_other = float(y_true), float(y_other)
    return {
        "true": (0.0 - y_true, 1.0 - y_true),
        "other": (0.0 - y_other, 1.0 - y_other),
    }


def stationary_logits(
    alpha: float, num_classes: int, target: int = 0, convention: str = "uniform"
):
    """Finite logits where the LS gradient vanishes: ``log y_LS``, shifted to mean 0.

    Every ``z = log y_LS + c`` (any constant ``c``) has ``softmax(z) = y_LS`` and
    hence zero gradient; this returns the representative with mean zero. The
    true logit exceeds every other by ``optimal_logit_gap``.

    Raises:
        ValueError: at ``alpha = 0`` (hard labels: no finite stationary point)
            or when the smoothed target puts zero mass on the true class.

    Example:
        >>> z = stationary_logits(0.2, 2)
        >>> round(float(z[0] - z[1]), 4)   # ln 9
        2.1972
    """
    k = check_num_classes(num_classes)
    _check_class_index(target, k)
    reject_negative_smoothing(alpha, convention, "stationary_logits")
    y_true, y_other = smoothed_target_values(alpha, k, convention)
    if float(y_other) <= 0 or float(y_true) <= 0:
        raise ValueError(
            "the LS gradient has no zero at finite logits when a class gets zero target mass "
            f"(alpha={alpha!r}, convention={convention!r})"
        )
    z = np.full(k, np.log(float(y_other)))
    z[target] = np.log(float(y_true))
    return z - z.mean()
