r"""The learning signal of (label-smoothed) cross-entropy, as chapter 2 derives it.

For logits :math:`z \in \mathbb{R}^K`, :math:`p = \operatorname{softmax}(z)` and
any nonnegative target vector :math:`y`, the loss
:math:`L = -\sum_k y_k \log p_k` has

.. math::

    \frac{\partial L}{\partial z} = \Bigl(\sum_k y_k\Bigr) p - y,
    \qquad
    \frac{\partial^2 L}{\partial z^2}
      = \Bigl(\sum_k y_k\Bigr)\bigl(\operatorname{diag}(p) - p p^\top\bigr),

that is :math:`p - y` and :math:`\operatorname{diag}(p) - p p^\top` when
:math:`y` sums to 1. The curvature depends on the target only through its
total mass, never on how that mass is spread: label smoothing changes the
gradient, not the Hessian at a given :math:`p`. With the smoothed target
:math:`y^{\mathrm{LS}} = (1-\alpha) e_t + \alpha u` (uniform convention):

* at the uniform prediction :math:`p = u` the gradient is
  :math:`(1-\alpha)(u - e_t)`, exactly :math:`1-\alpha` times the hard-label
  gradient;
* at the one-hot prediction :math:`p = e_t` it is :math:`\alpha (e_t - u)`, a
  restoring force of norm :math:`\alpha\sqrt{1 - 1/K}` that pushes the true
  logit back down;
* it vanishes only at :math:`p = y^{\mathrm{LS}}`, reached at the finite
  logits :math:`z = \log y^{\mathrm{LS}} + c\mathbf{1}`.

In the off-target convention replace :math:`\alpha` by
:math:`\varepsilon K/(K-1)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ._validation import as_logit_matrix, check_num_classes, reject_negative_smoothing
from .losses import ls_cross_entropy, ls_gradient
from .targets import smoothed_target_values, uniform_alpha
from .training import _train_stacked_members

__all__ = [
    "softmax_hessian",
    "cross_entropy_gradient",
    "logit_gradient_norms",
    "uniform_prediction_factor",
    "one_hot_prediction_gradient",
    "restoring_force_norm",
    "gradient_component_bounds",
    "stationary_logits",
    "train_ensemble",
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
    r"""Hessian of :math:`\operatorname{lse}(z)` in the logits.

    :math:`\nabla_z^2 \operatorname{lse}(z) = \operatorname{diag}(p) - p p^\top`
    with :math:`p = \operatorname{softmax}(z)`. This is the Hessian of the
    cross-entropy :math:`-\sum_k y_k \log p_k` with respect to the logits for
    *every* target :math:`y` that sums to 1, hard or smoothed (multiply by
    :math:`\sum_k y_k` otherwise). It is symmetric positive semidefinite, its
    rows sum to 0 (:math:`\mathbf{1}` spans its null space), and its trace is
    :math:`1 - \lVert p \rVert_2^2`.

    Args:
        logits: :math:`z`, a finite tensor or NumPy array of shape ``(K,)`` or
            ``(N, K)``.

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
    r"""Gradient of :math:`-\sum_k y_k \log \operatorname{softmax}(z)_k` in the logits.

    :math:`\bigl(\sum_k y_k\bigr) p - y` for any nonnegative target :math:`y`;
    equal to :math:`p - y` when :math:`y` sums to 1.

    Args:
        logits: :math:`z`, a finite tensor or NumPy array of shape ``(K,)`` or
            ``(N, K)``.
        target_probs: :math:`y`, nonnegative and finite, of the shape of
            ``logits`` (need not sum to 1).

    Returns:
        The gradient, of the shape and type of ``logits``.

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
    r"""Per-sample Euclidean norm of the logit gradient.

    :math:`\lVert \operatorname{softmax}(z_n) - y^{\mathrm{LS}}_n \rVert_2` for
    each sample :math:`n`: the size of the learning signal each sample sends
    into the network (the gradient of its own, unreduced LS loss with respect
    to its logits).

    Args:
        logits: :math:`z`, shape ``(N, K)``, tensor or NumPy array.
        target: ``(N,)`` class indices or ``(N, K)`` target probabilities.
        alpha: smoothing :math:`\alpha` (or :math:`\varepsilon` when
            ``convention="off_target"``), as in
            :func:`lsmath.losses.ls_gradient`.
        convention: ``"uniform"`` or ``"off_target"``.

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
    r"""Ratio of the LS gradient to the hard-label gradient at the uniform prediction.

    At :math:`p = u`: :math:`u - y^{\mathrm{LS}} = (1-\alpha)(u - e_t)`, so the
    ratio (of every component, hence of the norms) is :math:`1-\alpha` in the
    uniform convention and :math:`1 - \varepsilon K/(K-1)` in the off-target
    one.

    Args:
        alpha: smoothing :math:`\alpha` (or :math:`\varepsilon`), a scalar or
            an array (broadcasts).
        num_classes: the number of classes :math:`K \ge 2`.
        convention: ``"uniform"`` or ``"off_target"``.

    Returns:
        A float, or an array of the shape of ``alpha``.

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
    r"""LS gradient at the fully confident prediction :math:`p = e_t`.

    :math:`e_t - y^{\mathrm{LS}} = \alpha (e_t - u)`: the limit of
    :func:`lsmath.losses.ls_gradient` as the true logit goes to
    :math:`+\infty`; positive on the true class (a descent step lowers its
    logit) and negative on the others.

    Args:
        alpha: smoothing :math:`\alpha` (or :math:`\varepsilon`), a scalar
            :math:`\ge 0`.
        num_classes: the number of classes :math:`K \ge 2`.
        target: the true class :math:`t`, an integer in :math:`[0, K)`.
        convention: ``"uniform"`` or ``"off_target"``.

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
    r"""Norm of the LS gradient at the one-hot prediction.

    :math:`\lVert \alpha (e_t - u) \rVert_2 = \alpha\sqrt{1 - 1/K}`, with
    :math:`\alpha = \varepsilon K/(K-1)` for ``convention="off_target"``. Zero
    for hard labels.

    Args:
        alpha: smoothing :math:`\alpha` (or :math:`\varepsilon`), a scalar or
            an array (broadcasts).
        num_classes: the number of classes :math:`K \ge 2`.
        convention: ``"uniform"`` or ``"off_target"``.

    Returns:
        A float, or an array of the shape of ``alpha``.

    Example:
        >>> round(restoring_force_norm(0.1, 10), 4)
        0.0949
    """
    k = check_num_classes(num_classes)
    a = np.asarray(uniform_alpha(alpha, k, convention), dtype=float)
    out = a * np.sqrt(1.0 - 1.0 / k)
    return float(out) if out.ndim == 0 else out


def gradient_component_bounds(alpha, num_classes: int, convention: str = "uniform"):
    r"""Range of each component of :math:`p - y^{\mathrm{LS}}` over all finite logits.

    :math:`p` ranges over the open simplex, so the true-class component
    :math:`p_t - y^{\mathrm{LS}}_t` fills the open interval
    :math:`(-y^{\mathrm{LS}}_t,\ 1 - y^{\mathrm{LS}}_t)` and each other
    component :math:`p_k - y^{\mathrm{LS}}_k` fills
    :math:`(-y^{\mathrm{LS}}_k,\ 1 - y^{\mathrm{LS}}_k)`, :math:`k \ne t`. For
    hard labels that is :math:`(-1, 0)` and :math:`(0, 1)`: every component
    lies in :math:`(-1, 1)`.

    Args:
        alpha: smoothing :math:`\alpha` (or :math:`\varepsilon`), a scalar.
        num_classes: the number of classes :math:`K \ge 2`.
        convention: ``"uniform"`` or ``"off_target"``.

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
    r"""Finite logits where the LS gradient vanishes, shifted to mean 0.

    Every :math:`z = \log y^{\mathrm{LS}} + c\mathbf{1}` (any constant
    :math:`c`) has :math:`\operatorname{softmax}(z) = y^{\mathrm{LS}}` and hence
    zero gradient; this returns the representative with mean zero,
    :math:`\bar z = 0`. The true logit exceeds every other by
    :func:`lsmath.closed_forms.optimal_logit_gap`.

    Args:
        alpha: smoothing :math:`\alpha` (or :math:`\varepsilon`), a scalar
            :math:`> 0`.
        num_classes: the number of classes :math:`K \ge 2`.
        target: the true class :math:`t`, an integer in :math:`[0, K)`.
        convention: ``"uniform"`` or ``"off_target"``.

    Returns:
        NumPy array of shape ``(K,)``.

    Raises:
        ValueError: at :math:`\alpha = 0` (hard labels: no finite stationary
            point) or when the smoothed target puts zero mass on the true class.

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


def train_ensemble(
    net: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    alphas: Sequence[float],
    *,
    epochs: int,
    batch_size: int | None = None,
    lr: float = 1e-3,
    seeds: Sequence[int] | None = None,
    on_epoch: Callable[[int, torch.Tensor], dict] | None = None,
) -> dict[str, np.ndarray]:
    r"""Train :math:`M` networks at once with Adam, member :math:`m` on the LS loss
    with smoothing ``alphas[m]`` (uniform convention).

    The objective is :math:`\sum_m L_{\mathrm{LS}}(z^{(m)}, y; \alpha_m)`,
    each term the batch mean of one member. A member's parameters receive only
    the gradient of its own term and Adam acts elementwise, so every member
    follows the trajectory it would follow if trained alone (up to
    floating-point rounding), at the cost of one batched forward and backward
    pass. The loop (private, in :mod:`lsmath.training`) is shared with
    :func:`lsmath.applications.train_mlps_batched`.

    Args:
        net: maps inputs of shape ``(M, B, F)`` to logits ``(M, B, K)``, e.g.
            :class:`lsmath.applications.EnsembleMLP`; deterministic (no
            dropout), trained in place.
        x: inputs ``(N, F)``, shared by all members.
        y: class indices ``(N,)``, shared by all members.
        alphas: the smoothing :math:`\alpha_m \in [0, 1]` of each member
            (length :math:`M`).
        epochs: the number of passes over the data (an integer >= 1).
        batch_size: mini-batch size; ``None`` (or at least :math:`N`) for
            full-batch steps (one step an epoch, no shuffling).
        lr: Adam's learning rate (> 0).
        seeds: per-member seeds of the batch order (default 0 for all); a
            member reshuffles every epoch with its own generator.
        on_epoch: called after every epoch as ``on_epoch(epoch, logits)`` with
            the logits ``(M, N, K)`` of every member on all of ``x`` (no
            gradient); returns a dict of per-member values (length ``M``).

    Returns:
        ``{"loss": ..., key: ...}``, each an array of shape ``(epochs, M)``:
        the mean training loss of each member in each epoch, and every value
        ``on_epoch`` returned.

    Raises:
        TypeError: if ``net`` is not a ``torch.nn.Module``.
        ValueError: for inputs of the wrong shape, ``alphas`` outside
            :math:`[0, 1]`, a bad ``epochs``, ``batch_size``, ``lr`` or
            ``seeds``, or logits of a shape other than ``(M, B, K)``.

    Example:
        >>> import torch
        >>> from lsmath.applications import EnsembleMLP
        >>> x, y = torch.randn(32, 4), torch.arange(32) % 3
        >>> net = EnsembleMLP(2, [4, 8, 3], seed=0)
        >>> hist = train_ensemble(net, x, y, [0.0, 0.1], epochs=5)
        >>> hist["loss"].shape
        (5, 2)
    """
    if not isinstance(net, torch.nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError("x must be a tensor of shape (N, F)")
    if not isinstance(y, torch.Tensor) or y.shape != (x.shape[0],):
        raise ValueError(f"y must have shape ({x.shape[0]},) to match x")
    alphas = [float(a) for a in alphas]
    if not alphas or not all(0.0 <= a <= 1.0 for a in alphas):
        raise ValueError(
            f"alphas must be a non-empty list of values in [0, 1], got {alphas}"
        )
    m, n = len(alphas), x.shape[0]
    if batch_size is not None and not isinstance(batch_size, bool):
        batch_size = None if batch_size >= n else batch_size
    x_all = x.expand(m, -1, -1)
    hist: dict[str, list] = {}

    def member_losses(logits: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return torch.stack(
            [ls_cross_entropy(logits[k], yb[k], alphas[k]) for k in range(m)]
        )

    def record(epoch: int) -> None:
        with torch.no_grad():
            values = on_epoch(epoch, net(x_all)) if on_epoch else {}
        for key, value in values.items():
            hist.setdefault(key, []).append(np.asarray(value, dtype=float))

    losses = _train_stacked_members(
        net,
        x,
        y.expand(m, -1),
        member_losses,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seeds=[0] * m if seeds is None else list(seeds),
        after_epoch=record if on_epoch else None,
    )
    return {"loss": losses.numpy()} | {k: np.stack(v) for k, v in hist.items()}
