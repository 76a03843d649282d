"""Closed forms of the label-smoothing geometry.

``optimal_logit_gap``: the minimiser of the LS loss over the logits has
``softmax(z) = y_LS``, reached at finite logits, where every wrong class sits
at the same gap below the true one::

    z_t - z_k = log(y_true / y_other)
              = log(1 + K (1 - a) / a)            (uniform, a = alpha)
              = log((K - 1) (1 - eps) / eps)      (off_target)

``lipschitz_constant``: the gradient of the LS loss in the logits is
``p - y_LS`` (p on the probability simplex), so the loss is Lipschitz in the
logits (Euclidean norm) with constant ``sup_p ||p - y_LS||_2``.  The squared
norm is convex in ``p``, so the supremum sits at a vertex ``p = e_j`` of the
simplex; for ``y_true >= y_other`` the worst vertex is a wrong class ``j != t``::

    L^2 = y_true^2 + (1 - y_other)^2 + (K - 2) y_other^2.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_num_classes, reject_negative_smoothing
from .targets import smoothed_target_values

__all__ = ["optimal_logit_gap", "lipschitz_constant"]


def _scalar_or_array(x: np.ndarray):
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


def optimal_logit_gap(alpha, num_classes: int, convention: str = "uniform"):
    """Gap ``z_t - z_k`` between the true and each wrong logit at the LS-loss minimiser.

    ``log(y_true / y_other)``: ``log(1 + K (1 - alpha) / alpha)`` in the uniform
    convention, ``log((K - 1)(1 - eps) / eps)`` in the off-target one.  Infinite
    at ``alpha = 0`` (hard labels have no finite minimiser); negative when the
    smoothed target puts less mass on the true class than on the others.

    Args:
        alpha: smoothing in [0, 1] (scalar or array; broadcasts). Negative
            alpha raises ValueError: there is no finite minimiser then.
        num_classes: ``K >= 2``.
        convention: ``"uniform"`` or ``"off_target"``.

    Example:
        >>> round(optimal_logit_gap(0.1, 3), 4)   # seed 004's example
        3.3322
    """
    k = check_num_classes(num_classes)
    reject_negative_smoothing(alpha, convention, "optimal_logit_gap")
    y_true, y_other = smoothed_target_values(alpha, k, convention)
    y_true, y_other = np.asarray(y_true, dtype=float), np.asarray(y_other, dtype=float)
    with np.errstate(divide="ignore"):
        gap = np.where(
            y_other > 0, np.log(y_true / np.where(y_other > 0, y_other, 1.0)), np.inf
        )
    # off_target eps = 1 puts no mass on the true class: gap -> -inf.
    gap = np.where(y_true <= 0, -np.inf, gap)
    return _scalar_or_array(gap)


def lipschitz_constant(alpha, num_classes: int, convention: str = "uniform"):
    """Lipschitz constant of the LS loss in the logits: ``sup_p ||p - y_LS||_2``.

    The supremum over the simplex of the (convex) squared norm is attained at a
    vertex; the result is the larger of the vertex values at the true class,
    ``(1 - y_true)^2 + (K - 1) y_other^2``, and at a wrong class,
    ``y_true^2 + (1 - y_other)^2 + (K - 2) y_other^2``.  ``sqrt(2)`` at alpha = 0.

    Example:
        >>> round(lipschitz_constant(0.0, 10), 6)
        1.414214
    """
    k = check_num_classes(num_classes)
    y_true, y_other = smoothed_target_values(alpha, k, convention)
    y_true, y_other = np.asarray(y_true, dtype=float), np.asarray(y_other, dtype=float)
    at_true = (1 - y_true) ** 2 + (k - 1) * y_other**2
    at_wrong = y_true**2 + (1 - y_other) ** 2 + (k - 2) * y_other**2
    return _scalar_or_array(np.sqrt(np.maximum(at_true, at_wrong)))
