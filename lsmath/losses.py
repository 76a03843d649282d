"""Label-smoothed cross-entropy, written from its formula.

For logits ``z`` (class axis 1), ``log p = log_softmax(z)`` and a target class
``t``, the per-element loss with uniform-convention smoothing ``alpha`` is

    L = (1 - alpha) * (-w_t log p_t) + (alpha / K) * sum_k (-w_k log p_k),

which is ``-sum_k y_k log p_k`` with ``y = (1 - alpha) onehot + alpha / K`` when
all class weights ``w`` are 1 (Szegedy et al. 2016).  Reductions and the
handling of ``weight`` and ``ignore_index`` follow
``torch.nn.functional.cross_entropy`` exactly, including its normalisation of
the mean by the summed target weights.
"""

from __future__ import annotations

import torch

from ._validation import (
    as_logit_matrix,
    check_convention,
    check_num_classes,
    check_reduction,
    check_smoothing_scalar,
)
from .targets import smoothed_target_values, uniform_alpha
from .chunked import _fast_path_available, _ls_cross_entropy_rows

__all__ = ["ls_cross_entropy", "ls_gradient"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _check_logits(logits: object, name: str = "logits") -> torch.Tensor:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(logits).__name__}")
    if not logits.dtype.is_floating_point:
        raise TypeError(f"{name} must have a floating dtype, got {logits.dtype}")
    if logits.dim() < 1:
        raise ValueError(f"{name} must have shape (K,), (N, K) or (N, K, d1, ...), got a scalar")
    return logits


def _is_probability_target(logits: torch.Tensor, target: torch.Tensor) -> bool:
    return target.dtype.is_floating_point


def ls_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 0.0,
    *,
    convention: str = "uniform",
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    """Label-smoothed cross-entropy, equal to ``F.cross_entropy(..., label_smoothing=alpha)``.

    Formula (class indices ``t``, class weights ``w``, ``K`` classes)::

        loss_n = (1 - a) * (-w[t_n] * log p_n[t_n]) + (a / K) * sum_k (-w[k] * log p_n[k])

    with ``p_n = softmax(z_n)`` and ``a`` the uniform-convention smoothing
    (``a = eps * K / (K - 1)`` when ``convention="off_target"``). Elements whose
    target equals ``ignore_index`` contribute 0. ``reduction="mean"`` divides the
    sum by ``sum_n w[t_n]`` over non-ignored elements (by their count without
    ``weight``), exactly as PyTorch does.

    For probability targets ``q`` (a float tensor shaped like ``logits``) the
    smoothed target is ``(1 - a) q + a / K`` and the loss is
    ``-sum_k w_k y_k log p_k``; ``"mean"`` divides by the number of elements.

    Shapes:
        logits: ``(K,)``, ``(N, K)`` or ``(N, K, d1, ...)``; target: ``()``, ``(N,)``
        or ``(N, d1, ...)`` integer indices, or probabilities shaped like logits.
        Output: scalar for ``"mean"``/``"sum"``, else the target's shape.

    References:
        Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016.

    Example:
        >>> z = torch.tensor([[2.0, 0.0, 0.0]])
        >>> round(ls_cross_entropy(z, torch.tensor([0]), 0.1).item(), 4)
        0.3729
    """
    logits = _check_logits(logits)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
    check_reduction(reduction)
    check_convention(convention)
    check_smoothing_scalar(alpha, "alpha")
    unbatched = logits.dim() == 1
    if unbatched:
        logits = logits.unsqueeze(0)
        target = target.unsqueeze(0)
    k = logits.shape[1]
    if alpha > 0 or convention == "off_target":
        check_num_classes(k)
    a = float(uniform_alpha(alpha, k, convention)) if k >= 2 else 0.0
    if weight is not None:
        if not isinstance(weight, torch.Tensor) or not weight.dtype.is_floating_point:
            raise TypeError("weight must be a floating torch.Tensor of shape (K,) or None")
        if weight.shape != (k,):
            raise ValueError(f"weight must have shape (K,) = ({k},), got {tuple(weight.shape)}")

    # Fast path for (N, K) logits and class indices: the same two terms,
    # -log p_t = lse - z_t and sum_k -w_k log p_k = W lse - sum_k w_k z_k, computed
    # from per-row statistics in chunks of rows, with a backward pass that writes
    # dL/dz = c p - (a/K) w - (1-a) w_t onehot into a single N x K buffer
    # (lsmath/chunked.py). Elsewhere (probability targets, (N, K, d1, ...)
    # inputs, torch.func transforms) the plain formula below is used.
    if (
        logits.dim() == 2
        and not target.dtype.is_floating_point
        and not target.dtype.is_complex
        and target.dtype != torch.bool
        and tuple(target.shape) == (logits.shape[0],)
        and logits.shape[0] > 0
        and (weight is None or not weight.requires_grad)
        and _fast_path_available()
    ):
        loss = _ls_cross_entropy_rows(logits, target, a, weight, ignore_index, reduction)
        return loss.squeeze(0) if unbatched and reduction == "none" else loss

    # Low-precision logits: do the arithmetic in float32 (stable log-sum-exp,
    # accurate sums over large K), then return the result in the input dtype.
    out_dtype = logits.dtype
    work = logits.float() if out_dtype in _LOW_PRECISION else logits
    w = None if weight is None else weight.to(work.dtype)
    logp = torch.log_softmax(work, dim=1)
    w_b = None if w is None else w.view((1, k) + (1,) * (logp.dim() - 2))

    if _is_probability_target(logits, target):
        if target.shape != logits.shape:
            raise ValueError(
                "probability target must have the same shape as logits, "
                f"got target {tuple(target.shape)} and logits {tuple(logits.shape)}"
            )
        y = target.to(work.dtype)
        if a > 0:
            y = y * (1 - a) + a / k
        weighted = logp if w_b is None else logp * w_b
        per_elem = -(weighted * y).sum(dim=1)
        if reduction == "none":
            loss = per_elem
        elif reduction == "sum":
            loss = per_elem.sum()
        else:
            loss = per_elem.sum() / (logp.numel() / k) if logp.numel() else per_elem.sum() * float("nan")
        loss = loss.to(out_dtype)
        return loss.squeeze(0) if unbatched and reduction == "none" else loss

    if target.dtype in (torch.bool,) or target.dtype.is_complex:
        raise TypeError(f"target must hold integer class indices or probabilities, got {target.dtype}")
    expected = (logp.shape[0],) + tuple(logp.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target shape {tuple(target.shape)} does not match logits shape "
            f"{tuple(logits.shape)}: expected {expected}"
        )
    target = target.long()
    ignore = target == ignore_index
    valid_targets = target[~ignore]
    if valid_targets.numel() and (int(valid_targets.min()) < 0 or int(valid_targets.max()) >= k):
        raise ValueError(
            f"target values must lie in [0, K) = [0, {k}) or equal ignore_index={ignore_index}; "
            f"got min {int(valid_targets.min())} and max {int(valid_targets.max())}"
        )
    safe_t = target.masked_fill(ignore, 0).unsqueeze(1)
    nll = -logp.gather(1, safe_t).squeeze(1)
    if w is not None:
        w_t = w[safe_t.squeeze(1)].masked_fill(ignore, 0.0)
        nll = nll * w_t
        smooth = -(logp * w_b).sum(dim=1)
    else:
        w_t = (~ignore).to(work.dtype)
        smooth = -logp.sum(dim=1)
    nll = nll.masked_fill(ignore, 0.0)
    smooth = smooth.masked_fill(ignore, 0.0)
    per_elem = (1 - a) * nll + (a / k) * smooth if a > 0 else nll
    if reduction == "none":
        loss = per_elem
    elif reduction == "sum":
        loss = per_elem.sum()
    else:
        # PyTorch normalises both terms by the summed weight of the targets.
        loss = per_elem.sum() / w_t.sum()
    loss = loss.to(out_dtype)
    return loss.squeeze(0) if unbatched and reduction == "none" else loss


def ls_gradient(logits, target, alpha: float, convention: str = "uniform"):
    """Closed-form gradient of the per-sample LS loss with respect to the logits.

    ``dL/dz = softmax(z) - y_LS`` where ``y_LS`` is the smoothed target
    (Szegedy et al. 2016); it holds for any target distribution that sums to 1.

    Args:
        logits: ``(N, K)`` (or ``(K,)``) torch tensor or NumPy array.
        target: ``(N,)`` class indices in ``[0, K)``, or ``(N, K)`` probabilities.
        alpha: smoothing in [0, 1] in ``convention``.
        convention: ``"uniform"`` or ``"off_target"``.

    Returns:
        ``(N, K)`` gradient, the same type (tensor or array) as ``logits``.

    Example:
        >>> ls_gradient(torch.zeros(1, 2), torch.tensor([0]), 0.2)
        tensor([[-0.4000,  0.4000]])
    """
    z, as_numpy = as_logit_matrix(logits)
    unbatched = z.dim() == 1
    z = z.reshape(-1, z.shape[-1])
    k = z.shape[1]
    check_convention(convention)
    check_smoothing_scalar(alpha, "alpha")
    t = torch.as_tensor(target)
    if t.dtype.is_floating_point:
        t = t.reshape(z.shape) if unbatched and t.dim() == 1 else t
        if t.shape != z.shape:
            raise ValueError(f"probability target must have shape {tuple(z.shape)}, got {tuple(t.shape)}")
        a = float(uniform_alpha(alpha, k, convention))
        y = t.to(z.dtype) * (1 - a) + a / k
    else:
        t = t.reshape(-1)
        if t.shape[0] != z.shape[0]:
            raise ValueError(f"target has {t.shape[0]} entries but logits have batch size {z.shape[0]}")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= k):
            raise ValueError(f"target values must lie in [0, K) = [0, {k})")
        y_true, y_other = smoothed_target_values(alpha, k, convention)
        y = torch.full_like(z, y_other)
        y.scatter_(1, t.long().unsqueeze(1), y_true)
    grad = torch.softmax(z, dim=1) - y
    if unbatched:
        grad = grad.squeeze(0)
    return grad.numpy() if as_numpy else grad
