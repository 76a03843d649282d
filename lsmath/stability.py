"""Stability of label-smoothed learning: label flips, label noise, exact fits.

Chapter 5 of the book asks how much a trained model moves when one training
label is changed, and how that depends on the smoothing ``alpha``.  This
module holds what the chapter needs to answer it exactly or with a proven
bound:

* ``flip_label`` and ``symmetric_label_noise``: the two ways the chapter
  corrupts labels (one chosen label; a fixed fraction of labels, each moved to
  a uniformly chosen *different* class).
* ``constant_predictor`` and ``tabular_predictor``: closed-form minimisers of
  the mean LS cross-entropy for a model that predicts one free distribution
  (for all inputs, or per distinct input).  They equal
  ``(1 - alpha) * empirical frequencies + alpha / K`` exactly, so one flipped
  label moves two probabilities by exactly ``(1 - alpha) / n``.
* ``fit_softmax_regression``: L2-regularised multinomial logistic regression
  with LS targets, fitted deterministically in float64 by Newton's method, with
  a certificate ``||W - W*||_F <= ||grad F(W)||_F / lam`` (strong
  convexity) on how far the returned weights can be from the exact minimiser.
* ``label_flip_weight_bound``: ``||W - W'||_F <= sqrt(2) (y_true - y_other) ||x_j|| / (lam n)``
  for one flipped label (``y_true - y_other = 1 - alpha`` in the uniform
  convention), and ``uniform_stability_bound`` (Bousquet & Elisseeff 2002,
  ``L^2 R^2 / (lam n)`` for the objective ``mean loss + (lam / 2) ||W||^2``).

The Hessian in the logits, ``diag(p) - p p^T`` for every target, is
``lsmath.softmax_hessian`` (chapter 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ._validation import (
    check_class_labels,
    check_convention,
    check_num_classes,
    check_smoothing_scalar,
)
from .targets import smooth_targets, smoothed_target_values

__all__ = [
    "flip_label",
    "symmetric_label_noise",
    "constant_predictor",
    "tabular_predictor",
    "SoftmaxRegressionFit",
    "fit_softmax_regression",
    "label_flip_weight_bound",
    "uniform_stability_bound",
]


# --------------------------------------------------------------------------- labels


def flip_label(
    labels, index: int, num_classes: int, new_class: int | None = None
) -> torch.Tensor:
    """Copy of ``labels`` with the label at ``index`` changed.

    ``new_class`` defaults to ``(labels[index] + 1) mod K``; it must differ
    from the current label (a "flip" that changes nothing is refused).

    Args:
        labels: integer class labels ``(n,)`` in ``[0, K)`` (tensor, array or
            sequence); not modified.
        index: the position to flip, an integer in ``[-n, n)`` (negative
            counts from the end).
        num_classes: the number of classes ``K >= 2``.
        new_class: the new label, an integer in ``[0, K)`` other than the
            current one; default ``None`` takes the next class
            ``(labels[index] + 1) mod K``.

    Returns:
        A new int64 tensor ``(n,)`` equal to ``labels`` except at ``index``.

    Example:
        >>> flip_label(torch.tensor([0, 2, 1]), 1, 3)
        tensor([0, 0, 1])
    """
    k = check_num_classes(num_classes)
    labels = check_class_labels(labels, k)
    n = labels.numel()
    if (
        isinstance(index, bool)
        or not isinstance(index, (int, np.integer))
        or not -n <= index < n
    ):
        raise ValueError(f"index must be an integer in [-{n}, {n}), got {index!r}")
    old = int(labels[index])
    new = (old + 1) % k if new_class is None else new_class
    if (
        isinstance(new, bool)
        or not isinstance(new, (int, np.integer))
        or not 0 <= new < k
    ):
        raise ValueError(f"new_class must be an integer in [0, {k}), got {new_class!r}")
    if new == old:
        raise ValueError(f"new_class must differ from the current label {old}")
    out = labels.clone()
    out[index] = int(new)
    return out


def symmetric_label_noise(labels, num_classes: int, rate: float, *, seed: int = 0):
    """Corrupt exactly ``round(rate * n)`` labels, each to a uniformly chosen *other* class.

    The corrupted positions are a uniformly random subset (seeded), so the
    fraction of wrong labels is exactly ``rate`` up to rounding.

    Args:
        labels: integer class labels ``(n,)`` in ``[0, K)``; not modified.
        num_classes: the number of classes ``K >= 2``.
        rate: the fraction of labels to corrupt, in ``[0, 1]``.
        seed: seed of the choice of positions and new classes; default 0.

    Returns:
        ``(noisy_labels, corrupted)``: a new label tensor and a boolean mask of
        the positions that were changed (every one of them now differs).

    Example:
        >>> y = torch.zeros(10, dtype=torch.long)
        >>> noisy, mask = symmetric_label_noise(y, 3, 0.3)
        >>> int(mask.sum()), bool((noisy[mask] != 0).all()), bool((noisy[~mask] == 0).all())
        (3, True, True)
    """
    k = check_num_classes(num_classes)
    labels = check_class_labels(labels, k)
    rate = check_smoothing_scalar(rate, "rate")
    n = labels.numel()
    gen = torch.Generator().manual_seed(int(seed))
    m = int(round(rate * n))
    idx = torch.randperm(n, generator=gen)[:m]
    shift = torch.randint(1, k, (m,), generator=gen)  # 1..K-1: never the same class
    noisy = labels.clone()
    noisy[idx] = (labels[idx] + shift) % k
    corrupted = torch.zeros(n, dtype=torch.bool)
    corrupted[idx] = True
    return noisy, corrupted


# --------------------------------------------------------------- closed-form models


def constant_predictor(
    labels, num_classes: int, alpha: float, convention: str = "uniform"
) -> torch.Tensor:
    r"""Minimiser over one distribution ``q`` of the mean LS cross-entropy ``mean_i CE(y_i, q)``.

    The mean of the smoothed targets is ``y_bar = (1 - alpha) f + alpha / K``
    (``f``: empirical class frequencies); ``CE(y_bar, q) = H(y_bar) + KL(y_bar || q)``
    is minimised exactly at ``q = y_bar`` (Gibbs' inequality).  Float64, shape ``(K,)``.

    Args:
        labels: integer class labels ``(n,)`` in ``[0, K)``, at least one.
        num_classes: the number of classes ``K >= 2``.
        alpha: smoothing in ``[0, 1]`` in ``convention``.
        convention: ``"uniform"`` (default; ``alpha`` is :math:`\alpha`) or
            ``"off_target"`` (``alpha`` is :math:`\varepsilon`).

    Returns:
        ``y_bar``, a float64 tensor ``(K,)`` summing to 1.

    Example:
        >>> constant_predictor(torch.tensor([0, 0, 1, 2]), 3, 0.3)
        tensor([0.4500, 0.2750, 0.2750], dtype=torch.float64)
    """
    k = check_num_classes(num_classes)
    check_convention(convention)
    check_smoothing_scalar(alpha, "alpha")
    labels = check_class_labels(labels, k)
    if labels.numel() == 0:
        raise ValueError("labels must not be empty")
    with torch.no_grad():
        return smooth_targets(labels, k, alpha, convention, dtype=torch.float64).mean(
            dim=0
        )


def tabular_predictor(
    inputs,
    labels,
    num_inputs: int,
    num_classes: int,
    alpha: float,
    convention: str = "uniform",
) -> torch.Tensor:
    r"""Per-input version of ``constant_predictor``: one free distribution per distinct input.

    ``inputs`` are integer ids in ``[0, num_inputs)``; row ``x`` of the result
    is ``(1 - alpha) f(. | x) + alpha / K`` where ``f(. | x)`` are the label
    frequencies among the ``n_x`` examples with input ``x``.  A flipped label
    at input ``x`` moves only row ``x``, by ``(1 - alpha) / n_x`` in two
    entries.  Rows of inputs never seen are left uniform (the loss does not
    depend on them).  Float64, shape ``(num_inputs, K)``.

    Args:
        inputs: integer input ids ``(n,)`` in ``[0, num_inputs)``.
        labels: integer class labels ``(n,)`` in ``[0, K)``, one per input.
        num_inputs: the number of distinct inputs (table rows), a positive
            integer.
        num_classes: the number of classes ``K >= 2``.
        alpha: smoothing in ``[0, 1]`` in ``convention``.
        convention: ``"uniform"`` (default; ``alpha`` is :math:`\alpha`) or
            ``"off_target"`` (``alpha`` is :math:`\varepsilon`).

    Returns:
        The table, a float64 tensor ``(num_inputs, K)`` whose rows sum to 1.

    Example:
        >>> tabular_predictor(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 1]), 2, 2, 0.2)
        tensor([[0.5000, 0.5000],
                [0.1000, 0.9000]], dtype=torch.float64)
    """
    k = check_num_classes(num_classes)
    check_convention(convention)
    check_smoothing_scalar(alpha, "alpha")
    labels = check_class_labels(labels, k)
    if (
        isinstance(num_inputs, bool)
        or not isinstance(num_inputs, (int, np.integer))
        or num_inputs < 1
    ):
        raise ValueError(f"num_inputs must be a positive integer, got {num_inputs!r}")
    inputs = check_class_labels(inputs, int(num_inputs), "inputs")
    if inputs.shape != labels.shape:
        raise ValueError(
            "inputs and labels must have the same shape, "
            f"got {tuple(inputs.shape)} and {tuple(labels.shape)}"
        )
    with torch.no_grad():
        y = smooth_targets(labels, k, alpha, convention, dtype=torch.float64)
        sums = torch.zeros(int(num_inputs), k, dtype=torch.float64).index_add_(
            0, inputs, y
        )
        counts = torch.bincount(inputs, minlength=int(num_inputs)).to(torch.float64)
        table = torch.full((int(num_inputs), k), 1.0 / k, dtype=torch.float64)
        seen = counts > 0
        table[seen] = sums[seen] / counts[seen, None]
    return table


# ------------------------------------------------------ regularised softmax regression


@dataclass(frozen=True)
class SoftmaxRegressionFit:
    """Result of ``fit_softmax_regression``.

    Attributes:
        weight: ``(K, d)`` float64 weights (logits are ``x @ weight.T``).
        objective: final value of ``mean LS cross-entropy + (lam / 2) ||W||_F^2``.
        grad_norm: Frobenius norm of the objective's gradient at ``weight``.
        error_bound: ``grad_norm / lam``, a proven bound on ``||weight - W*||_F``
            (the objective is ``lam``-strongly convex); ``inf`` when ``lam = 0``.
        iterations: Newton steps taken.
    """

    weight: torch.Tensor
    objective: float
    grad_norm: float
    error_bound: float
    iterations: int


def _objective(w, x, y, lam):
    logits = x @ w.T
    logp = torch.log_softmax(logits, dim=1)
    return float(-(y * logp).sum() / x.shape[0] + 0.5 * lam * (w * w).sum()), logp.exp()


def _gradient(w, x, y, p, lam):
    return (p - y).T @ x / x.shape[0] + lam * w


def _hessian(x, p, lam):
    """Hessian of F in vec(W) (row-major: index k * d + e).

    Block (k, l) is ``mean_i (delta_kl p_ik - p_ik p_il) x_i x_i^T + lam delta_kl I``.
    """
    n, d = x.shape
    k = p.shape[1]
    diag_blocks = torch.einsum("ik,id,ie->kde", p, x, x) / n
    z = (p.unsqueeze(2) * x.unsqueeze(1)).reshape(n, k * d)
    h = -(z.T @ z) / n
    blocks = h.view(k, d, k, d)
    for c in range(k):
        blocks[c, :, c, :] += diag_blocks[c]
    h.diagonal().add_(lam)
    return h


def fit_softmax_regression(
    x,
    labels,
    num_classes: int,
    alpha: float,
    lam: float,
    *,
    convention: str = "uniform",
    init=None,
    tol: float = 1e-12,
    max_iter: int = 100,
) -> SoftmaxRegressionFit:
    r"""Minimise ``F(W) = mean_i CE(y_i^LS, softmax(W x_i)) + (lam / 2) ||W||_F^2``.

    The minimiser is found to high precision.

    Deterministic damped Newton's method in float64 (exact Hessian, backtracking
    line search), stopped when ``||grad F||_F <= tol`` or after ``max_iter``
    Newton steps; it converges quadratically, so a handful of steps reach the
    limit of float64.  There is no separate bias: append a constant feature to
    ``x`` if you want one (it is then regularised like every other weight,
    which keeps ``F`` ``lam``-strongly convex).  With ``lam = 0`` the Hessian is
    singular along ``W -> W + 1 v^T`` (adding one vector to every row leaves
    the softmax unchanged); the minimum-norm Newton step is used, and a finite
    minimiser exists only if the LS targets keep it finite (e.g. ``alpha > 0``
    for the constant or one-hot-coded inputs); no certificate is then available.

    Args:
        x: ``(n, d)`` features (converted to float64).
        labels: ``(n,)`` integer classes in ``[0, K)``.
        num_classes: ``K >= 2``.
        alpha: smoothing in [0, 1] in ``convention``.
        lam: L2 strength ``>= 0``.
        convention: ``"uniform"`` (default; ``alpha`` is :math:`\alpha`) or
            ``"off_target"`` (``alpha`` is :math:`\varepsilon`).
        init: optional ``(K, d)`` starting weights (warm start), default zeros.
        tol: gradient-norm tolerance.
        max_iter: cap on Newton steps.

    Returns:
        A :class:`SoftmaxRegressionFit`: the weights ``(K, d)``, the final
        objective, its gradient norm, the certified distance bound
        ``grad_norm / lam`` to the exact minimiser and the number of steps.

    Example:
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> fit = fit_softmax_regression(x, torch.tensor([0, 1, 1]), 2, 0.1, 0.5)
        >>> fit.grad_norm <= 1e-12, fit.error_bound <= 1e-11
        (True, True)
    """
    k = check_num_classes(num_classes)
    check_convention(convention)
    check_smoothing_scalar(alpha, "alpha")
    x, labels, lam, w = _check_regression_inputs(x, labels, k, lam, init)
    y = smooth_targets(labels, k, alpha, convention, dtype=torch.float64)
    with torch.no_grad():
        f, p = _objective(w, x, y, lam)
        g = _gradient(w, x, y, p, lam)
        steps = 0
        while float(g.norm()) > tol and steps < max_iter:
            step = _newton_direction(x, p, g, lam)
            slope = float((g * step).sum())
            if slope >= 0:  # numerically flat: nothing left to gain
                break
            t, f_new, p_new, g_new = _line_search(w, step, slope, f, g, x, y, lam)
            if t < 1e-10:
                break
            w = w + t * step
            f, p, g = f_new, p_new, g_new
            steps += 1
    gnorm = float(g.norm())
    bound = gnorm / lam if lam > 0 else math.inf
    return SoftmaxRegressionFit(w, f, gnorm, bound, steps)


def _check_regression_inputs(x, labels, k: int, lam, init):
    """Checked ``(x, labels, lam, w0)`` of :func:`fit_softmax_regression`, in float64."""
    if (
        isinstance(lam, bool)
        or not isinstance(lam, (int, float, np.floating, np.integer))
        or not lam >= 0
        or math.isinf(lam)
    ):
        raise ValueError(f"lam must be a finite real >= 0, got {lam!r}")
    x = torch.as_tensor(x).detach().to(torch.float64)
    if x.dim() != 2:
        raise ValueError(f"x must have shape (n, d), got {tuple(x.shape)}")
    labels = check_class_labels(labels, k)
    if labels.shape[0] != x.shape[0] or x.shape[0] == 0:
        raise ValueError(
            "x and labels must have the same, positive number of rows, "
            f"got {x.shape[0]} and {labels.shape[0]}"
        )
    if not torch.isfinite(x).all():
        raise ValueError("x must be finite")
    d = x.shape[1]
    if init is None:
        w = torch.zeros(k, d, dtype=torch.float64)
    else:
        w = torch.as_tensor(init).detach().to(torch.float64).clone()
        if w.shape != (k, d):
            raise ValueError(f"init must have shape {(k, d)}, got {tuple(w.shape)}")
    return x, labels, float(lam), w


def _newton_direction(x, p, g, lam: float) -> torch.Tensor:
    """``-H^{-1} g`` (the minimum-norm step ``-H^+ g`` when ``lam = 0``)."""
    h = _hessian(x, p, lam)
    if lam > 0:
        return -torch.linalg.solve(h, g.reshape(-1)).reshape(g.shape)
    return -(torch.linalg.pinv(h, hermitian=True) @ g.reshape(-1)).reshape(g.shape)


def _line_search(w, step, slope: float, f, g, x, y, lam: float):
    """Backtracking (Armijo) line search along ``step``: ``(t, f, p, g)`` at the new point.

    Near the minimiser the decrease in F falls below float64 resolution; a
    full step that lowers the gradient norm is then accepted instead (Newton's
    local regime). ``t < 1e-10`` means that no step was found.
    """
    t = 1.0
    while True:
        f_new, p_new = _objective(w + t * step, x, y, lam)
        if f_new <= f + 0.25 * t * slope:
            g_new = _gradient(w + t * step, x, y, p_new, lam)
            break
        if t == 1.0:
            g_new = _gradient(w + step, x, y, p_new, lam)
            if f_new <= f + 1e-12 * max(1.0, abs(f)) and float(g_new.norm()) < float(
                g.norm()
            ):
                break
        t *= 0.5
        if t < 1e-10:
            break
    return t, f_new, p_new, g_new


# ------------------------------------------------------------------------- bounds


def label_flip_weight_bound(
    alpha, n: int, lam: float, x_norm, num_classes: int = 2, convention: str = "uniform"
):
    r"""Bound on ``||W - W'||_F`` when one label (of an example with ``||x_j|| = x_norm``) flips.

    For ``F(W) = mean loss + (lam / 2) ||W||_F^2`` the gradients of the old and
    new example losses differ by ``(y' - y) x_j^T`` at *every* ``W``, and
    ``y' - y = (y_true - y_other)(e_new - e_old)``; ``lam``-strong convexity
    then gives::

        ||W - W'||_F <= sqrt(2) (y_true - y_other) ||x_j|| / (lam n)
                      = sqrt(2) (1 - alpha) ||x_j|| / (lam n)      (uniform convention)

    ``num_classes`` matters only for the off-target convention.  Broadcasts
    over array ``alpha``, ``n``, ``x_norm``.

    Args:
        alpha: smoothing in ``[0, 1]`` in ``convention``, a scalar or an array.
        n: the number of training examples ``n >= 1`` (scalar or array).
        lam: the L2 strength :math:`\lambda > 0`.
        x_norm: the Euclidean norm ``||x_j|| >= 0`` of the flipped example's
            input (scalar or array).
        num_classes: the number of classes ``K >= 2``; default 2.
        convention: ``"uniform"`` (default; ``alpha`` is :math:`\alpha`) or
            ``"off_target"`` (``alpha`` is :math:`\varepsilon`).

    Returns:
        The bound, a float (an array when an argument is an array).

    Example:
        >>> round(label_flip_weight_bound(0.1, 100, 0.1, 1.0), 6)
        0.127279
    """
    k = check_num_classes(num_classes)
    y_true, y_other = smoothed_target_values(alpha, k, convention)
    count = np.asarray(n, dtype=float)
    if (count < 1).any():
        raise ValueError(f"n must be >= 1, got {count!r}")
    if not float(lam) > 0:
        raise ValueError(f"lam must be > 0 (strong convexity), got {lam!r}")
    x_norm = np.asarray(x_norm, dtype=float)
    if (x_norm < 0).any():
        raise ValueError("x_norm must be >= 0")
    out = (
        math.sqrt(2.0)
        * np.abs(np.asarray(y_true) - np.asarray(y_other))
        * x_norm
        / (float(lam) * count)
    )
    return float(out) if np.ndim(out) == 0 else out


def uniform_stability_bound(lipschitz, radius, lam: float, n: int):
    r"""Bousquet & Elisseeff (2002, Thm 22) uniform-stability bound, in this book's normalisation.

    For ``min_W mean_i l(W x_i, y_i) + (lam / 2) ||W||_F^2`` with a loss that is
    ``L``-Lipschitz in the logits and inputs ``||x|| <= R``::

        beta <= L^2 R^2 / (lam n).

    (The paper writes the penalty as ``lam' ||f||^2`` and gets ``L^2 R^2 / (2 lam' n)``;
    ``lam' = lam / 2``.  Their stability removes one example; replacing one
    doubles the bound.)

    Args:
        lipschitz: the Lipschitz constant ``L`` of the loss in the logits
            (e.g. :func:`lsmath.closed_forms.lipschitz_constant`); scalar or
            array.
        radius: the bound ``R`` on the input norms ``||x||``; scalar or array.
        lam: the L2 strength :math:`\lambda > 0`.
        n: the number of training examples ``n >= 1`` (scalar or array).

    Returns:
        The bound :math:`\beta` on the change of the loss at any point when
        one example is removed, a float (an array when an argument is one).

    Example:
        >>> round(uniform_stability_bound(2 ** 0.5, 1.0, 0.5, 100), 12)
        0.04
    """
    lam = float(lam)
    if not lam > 0:
        raise ValueError(f"lam must be > 0, got {lam!r}")
    count = np.asarray(n, dtype=float)
    if (count < 1).any():
        raise ValueError(f"n must be >= 1, got {count!r}")
    out = (
        np.asarray(lipschitz, dtype=float) ** 2
        * np.asarray(radius, dtype=float) ** 2
        / (lam * count)
    )
    return float(out) if np.ndim(out) == 0 else out
