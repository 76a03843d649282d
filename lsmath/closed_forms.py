r"""Closed forms of the label-smoothing geometry (chapters 3 and 5).

:func:`optimal_logit_gap`: the label-smoothed loss is minimised over the logits
where :math:`\operatorname{softmax}(z) = y^{\mathrm{LS}}`, at finite logits, and
every wrong class sits at the same gap below the true one:

.. math::

    z_t - z_k = \log\frac{y^{\mathrm{LS}}_t}{y^{\mathrm{LS}}_{k \ne t}}
              = \log\Bigl(1 + \frac{K(1-\alpha)}{\alpha}\Bigr)
              = \log\frac{(K-1)(1-\varepsilon)}{\varepsilon},

in the uniform (:math:`\alpha`) and the off-target (:math:`\varepsilon`)
convention.

:func:`lipschitz_constant`: the gradient of the loss in the logits is
:math:`p - y^{\mathrm{LS}}` with :math:`p` on the probability simplex, so the
loss is Lipschitz in the logits (Euclidean norm) with constant
:math:`L = \sup_p \lVert p - y^{\mathrm{LS}} \rVert_2`. The squared norm is
convex in :math:`p`, so the supremum sits at a vertex :math:`p = e_j` of the
simplex; when :math:`y^{\mathrm{LS}}_t \ge y^{\mathrm{LS}}_{k \ne t}` the worst
vertex is a wrong class :math:`j \ne t`:

.. math::

    L^2 = \bigl(y^{\mathrm{LS}}_t\bigr)^2
          + \bigl(1 - y^{\mathrm{LS}}_{k \ne t}\bigr)^2
          + (K-2)\,\bigl(y^{\mathrm{LS}}_{k \ne t}\bigr)^2 .
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
    r"""Gap :math:`z_t - z_k` between the true and each wrong logit at the minimiser.

    The minimiser of the label-smoothed loss has
    :math:`z_t - z_k = \log\bigl(y^{\mathrm{LS}}_t / y^{\mathrm{LS}}_{k \ne t}\bigr)`
    for every wrong class :math:`k \ne t`:
    :math:`\log\bigl(1 + K(1-\alpha)/\alpha\bigr)` in the uniform convention,
    :math:`\log\bigl((K-1)(1-\varepsilon)/\varepsilon\bigr)` in the off-target
    one (chapter 3). Infinite at :math:`\alpha = 0` (hard labels have no finite
    minimiser); negative when the smoothed target puts less mass on the true
    class than on each other class.

    Args:
        alpha: smoothing :math:`\alpha` (or :math:`\varepsilon` when
            ``convention="off_target"``) in :math:`[0, 1]`, a scalar or an array
            (broadcasts). Negative smoothing raises ``ValueError``: there is no
            finite minimiser then.
        num_classes: the number of classes :math:`K \ge 2`.
        convention: ``"uniform"`` or ``"off_target"``.

    Returns:
        A float, or an array of the shape of ``alpha``.

    Example:
        >>> round(optimal_logit_gap(0.1, 3), 4)   # "What is Label Smoothing?"
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
    r"""Lipschitz constant of the LS loss in the logits (Euclidean norm).

    :math:`L = \sup_p \lVert p - y^{\mathrm{LS}} \rVert_2`. The supremum over
    the simplex of the (convex) squared norm is attained at a vertex; the
    result is the larger of the values at the true-class vertex,
    :math:`(1 - y^{\mathrm{LS}}_t)^2 + (K-1)(y^{\mathrm{LS}}_{k \ne t})^2`, and
    at a wrong-class vertex,
    :math:`(y^{\mathrm{LS}}_t)^2 + (1 - y^{\mathrm{LS}}_{k \ne t})^2
    + (K-2)(y^{\mathrm{LS}}_{k \ne t})^2`. In the uniform convention that is
    :math:`\sqrt{2(1-\alpha) + (1 - 1/K)\alpha^2}` for
    :math:`0 \le \alpha \le 1`, and :math:`\sqrt 2` at :math:`\alpha = 0`
    (chapter 5).

    Args:
        alpha: smoothing :math:`\alpha` (or :math:`\varepsilon` when
            ``convention="off_target"``), a scalar or an array (broadcasts).
        num_classes: the number of classes :math:`K \ge 2`.
        convention: ``"uniform"`` or ``"off_target"``.

    Returns:
        A float, or an array of the shape of ``alpha``.

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
