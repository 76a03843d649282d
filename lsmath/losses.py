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

from ._chunked_kernels import (
    autocast_enabled,
    fast_path_available,
    ls_cross_entropy_rows,
    targets_in_range,
)
from ._reduction import reduce_rows
from ._validation import (
    as_logit_matrix,
    check_class_range,
    check_convention,
    check_ignore_index,
    check_prior,
    check_reduction,
    check_target_dtype,
    check_tensor_logits,
    compute_dtype,
    is_low_precision,
)
from .targets import smooth_targets, uniform_smoothing

__all__ = ["ls_cross_entropy", "ls_gradient"]


def ls_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 0.0,
    *,
    convention: str = "uniform",
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    prior=None,
) -> torch.Tensor:
    """Label-smoothed cross-entropy, equal to ``F.cross_entropy(..., label_smoothing=alpha)``.

    Formula (class indices ``t``, class weights ``w``, ``K`` classes, prior
    ``pi``, uniform ``pi_k = 1 / K`` by default)::

        loss_n = (1 - a) * (-w[t_n] * log p_n[t_n]) + a * sum_k pi_k * (-w[k] * log p_n[k])
               = -sum_k w_k y_nk log p_nk,   y_n = (1 - a) e_{t_n} + a pi

    with ``p_n = softmax(z_n)`` and ``a`` the uniform-convention smoothing
    (``a = eps * K / (K - 1)`` when ``convention="off_target"``). Elements whose
    target equals ``ignore_index`` contribute 0. ``reduction="mean"`` divides the
    sum by ``sum_n w[t_n]`` over non-ignored elements (by their count without
    ``weight``), exactly as PyTorch does; with a ``prior`` the same
    normalisation is kept, so ``prior = uniform`` gives PyTorch's value, and each
    element's loss equals ``F.cross_entropy(z_n, y_n, weight=w)`` (the
    probability-target path of PyTorch with the smoothed target built by hand).

    For probability targets ``q`` (a float tensor shaped like ``logits``) the
    smoothed target is ``(1 - a) q + a pi`` and the loss is
    ``-sum_k w_k y_k log p_k``; ``"mean"`` divides by the number of elements.

    Args:
        logits: ``(K,)``, ``(N, K)`` or ``(N, K, d1, ...)`` floating tensor.
        target: ``()``, ``(N,)`` or ``(N, d1, ...)`` integer class indices, or
            probabilities shaped like ``logits``.
        alpha: smoothing, a float or 0-d tensor in ``(-inf, 1]``; the usual range
            is [0, 1], negative values are negative label smoothing (Wei et al.
            2022), which pushes the true logit up instead of holding it back.
        convention: ``"uniform"`` or ``"off_target"``.
        weight: optional ``(K,)`` class weights (floating tensor).
        ignore_index: int; class-index targets equal to it contribute nothing.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        prior: optional length-K probability vector replacing the uniform one.

    Returns:
        scalar for ``"mean"``/``"sum"``, else a tensor of the target's shape
        (without the class axis). Dtype and arithmetic: PyTorch's (for a uniform
        prior and ``0 <= alpha <= 1`` the value *is* ``F.cross_entropy``'s,
        computed by it; float16 logits, and with a ``prior`` or negative
        ``alpha`` also bfloat16 ones, are computed in float32 and the result
        returned in the logits' dtype).

    Works under autograd (first and higher derivatives), ``torch.func``
    transforms (vmap, grad, jacrev, jvp), forward-mode AD, ``torch.compile``
    and the meta device: wherever a transform or tracing is active, the plain
    differentiable formula is used instead of the memory-lean row kernel.

    References:
        Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016.
        Wei et al., "To Smooth or Not? When Label Smoothing Meets Noisy Labels", ICML 2022.

    Example:
        >>> z = torch.tensor([[2.0, 0.0, 0.0]])
        >>> round(ls_cross_entropy(z, torch.tensor([0]), 0.1).item(), 4)
        0.3729
    """
    if _is_plain_torch_call(
        logits, target, alpha, convention, weight, ignore_index, reduction, prior
    ):
        # The common call is PyTorch's own loss: hand it over after a few type
        # tests, so that lsmath adds microseconds, not tens of them (issue 18:
        # at most 1.1x torch's time even for a 0.3 ms call at K = 10).
        return _torch_cross_entropy(
            logits, target, alpha, None, ignore_index, reduction
        )
    logits = _autocast_logits(check_tensor_logits(logits))
    a, weight, prior = _check_loss_arguments(
        logits, target, alpha, convention, weight, ignore_index, reduction, prior
    )
    unbatched = logits.dim() == 1
    if unbatched:
        logits, target = logits.unsqueeze(0), target.unsqueeze(0)
    _check_target_shape(logits, target)
    if _torch_computes_it(logits, target, a, prior):
        loss = _torch_cross_entropy(logits, target, a, weight, ignore_index, reduction)
    elif target.dtype.is_floating_point:
        loss = _probability_target_loss(logits, target, a, weight, prior, reduction)
    elif _use_row_kernel(logits, target, weight, prior):
        loss = ls_cross_entropy_rows(logits, target, a, weight, ignore_index, reduction)
    else:
        loss = _class_index_loss(
            logits, target, a, weight, prior, ignore_index, reduction
        )
    return loss.squeeze(0) if unbatched and reduction == "none" else loss


_PLAIN_DTYPES = frozenset({torch.float32, torch.float64, torch.bfloat16})
_REDUCTIONS = frozenset({"mean", "sum", "none"})


def _is_plain_torch_call(
    logits, target, alpha, convention, weight, ignore_index, reduction, prior
) -> bool:
    """Whether the call is, unchecked, exactly ``F.cross_entropy(label_smoothing=alpha)``.

    ``(N, K)`` CPU logits in float32, float64 or bfloat16 (not under autocast),
    ``(N,)`` int64 class indices, a Python float ``0 <= alpha <= 1``, the
    uniform convention and prior, no class weights, an int ``ignore_index`` and
    a known ``reduction``: every argument is then already valid, and the full
    checks of :func:`ls_cross_entropy` would only cost time. Anything else
    (including NaN ``alpha``, bools, tensors ``alpha``) takes the checked path.
    """
    return (
        type(alpha) is float
        and 0.0 <= alpha <= 1.0
        and prior is None
        and weight is None
        and convention == "uniform"
        and type(ignore_index) is int
        and type(reduction) is str
        and reduction in _REDUCTIONS
        and isinstance(logits, torch.Tensor)
        and isinstance(target, torch.Tensor)
        and logits.dtype in _PLAIN_DTYPES
        and target.dtype is torch.int64
        and logits.dim() == 2
        and target.dim() == 1
        and target.shape[0] == logits.shape[0]
        and logits.device.type == "cpu"
        and not (logits.dtype is torch.bfloat16 and autocast_enabled("cpu"))
    )


def _check_loss_arguments(
    logits, target, alpha, convention, weight, ignore_index, reduction, prior
):
    """Validate the arguments of ``ls_cross_entropy``; return ``(a, weight, prior)``.

    ``a`` is the uniform-convention smoothing (a float); ``prior`` is None or a
    ``(K,)`` tensor on the logits' device.
    """
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
    check_target_dtype(target)
    check_reduction(reduction)
    check_convention(convention)
    check_ignore_index(ignore_index)
    k = logits.shape[0] if logits.dim() == 1 else logits.shape[1]
    a = uniform_smoothing(alpha, k, convention)
    if weight is not None:
        if not isinstance(weight, torch.Tensor) or not weight.dtype.is_floating_point:
            raise TypeError(
                "weight must be a floating torch.Tensor of shape (K,) or None"
            )
        if weight.shape != (k,):
            raise ValueError(
                f"weight must have shape (K,) = ({k},), got {tuple(weight.shape)}"
            )
    if prior is not None:
        prior = check_prior(prior, k, device=logits.device)
    return a, weight, prior


def _torch_computes_it(logits, target, a, prior) -> bool:
    """Whether ``F.cross_entropy`` computes exactly this loss (then it is called).

    For a uniform prior and ``0 <= a <= 1`` the loss *is* PyTorch's
    ``label_smoothing`` cross-entropy, and for float32, float64 and bfloat16
    PyTorch's fused kernels are the fastest and leanest way to it under every
    thread count and machine load (issue 18: at most 1.1x torch's time and
    1.0x its memory) and support every transform. float16 keeps lsmath's
    float32 row kernels: PyTorch sums the smoothing term in float16, which
    overflows (65504) for logits of size 1e4 where lsmath's stays finite.
    Priors and negative smoothing use lsmath's own kernels.
    """
    return prior is None and 0.0 <= a <= 1.0 and logits.dtype != torch.float16


def _check_target_shape(logits, target) -> None:
    """Probabilities shaped like ``logits``; class indices like it without axis 1."""
    if target.dtype.is_floating_point:
        if target.shape != logits.shape:
            raise ValueError(
                "probability target must have the same shape as logits, "
                f"got target {tuple(target.shape)} and logits {tuple(logits.shape)}"
            )
        return
    expected = (logits.shape[0],) + tuple(logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target shape {tuple(target.shape)} does not match logits shape "
            f"{tuple(logits.shape)}: expected {expected}"
        )


def _check_target_values(logits, target, ignore_index) -> None:
    """Class indices in ``[0, K)`` or ``ignore_index``, in eager mode only.

    Under tracing and transforms the values cannot be inspected (the check is
    skipped there, as ``F.cross_entropy`` skips it on CUDA).
    """
    if fast_path_available(logits, target):
        targets_in_range(target, logits.shape[1], ignore_index)


def _torch_cross_entropy(logits, target, a, weight, ignore_index, reduction):
    """``F.cross_entropy`` after lsmath's own checks (readable errors, same shapes)."""
    class_indices = not target.dtype.is_floating_point
    if class_indices:
        target = target.long()
        if logits.device.type != "cpu":
            # off the CPU an out-of-range index is a device-side assert
            _check_target_values(logits, target, ignore_index)
    if weight is not None:
        weight = weight.to(logits.dtype)
    try:
        return torch.nn.functional.cross_entropy(
            logits,
            target,
            weight=weight,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=a,
        )
    except (IndexError, RuntimeError):
        # On the CPU PyTorch checks the indices itself; only when it rejects
        # them is the range checked here (one pass over the targets saved per
        # call), to raise lsmath's readable error instead of PyTorch's.
        if class_indices:
            _check_target_values(logits, target, ignore_index)
        raise


def _use_row_kernel(logits, target, weight, prior) -> bool:
    """Whether the memory-lean row kernel (lsmath/chunked.py) applies.

    It handles ``(N, K)`` logits with ``(N,)`` class indices, a uniform prior and
    constant class weights, in eager mode; everything else (and every
    ``torch.func`` transform, tracing, the meta device) uses the plain formula.
    """
    return (
        logits.dim() == 2
        and prior is None
        and tuple(target.shape) == (logits.shape[0],)
        and logits.shape[0] > 0
        and (weight is None or not weight.requires_grad)
        and fast_path_available(logits, target)
    )


def _log_probs(logits, weight):
    """``log_softmax`` over the class axis (float32 for low precision) and the weights."""
    work = logits.to(compute_dtype(logits.dtype))
    w = None if weight is None else weight.to(work.dtype)
    return torch.log_softmax(work, dim=1), w


def _class_axis(v: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """View a ``(K,)`` vector so that it broadcasts along axis 1 of ``logp``."""
    return v.view((1, -1) + (1,) * (logp.dim() - 2))


def _probability_target_loss(logits, target, a, weight, prior, reduction):
    """``-sum_k w_k y_k log p_k`` with ``y = (1 - a) q + a pi``; mean over elements."""
    logp, w = _log_probs(logits, weight)
    k = logp.shape[1]
    y = target.to(logp.dtype)
    if a != 0:
        y = y * (1 - a) + (
            a / k if prior is None else a * _class_axis(prior.to(logp.dtype), logp)
        )
    weighted = logp if w is None else logp * _class_axis(w, logp)
    per_elem = -(weighted * y).sum(dim=1)
    count = logp.numel() // k if k else 0
    denom = count if count else float("nan")
    return reduce_rows(per_elem, reduction, denom).to(_result_dtype(logits, target))


def _class_index_loss(logits, target, a, weight, prior, ignore_index, reduction):
    """``(1 - a) w_t (-log p_t) + a sum_k pi_k w_k (-log p_k)``, 0 on ignored elements.

    Plain differentiable tensor operations only (no data-dependent Python
    branches when tracing), so torch.func, torch.compile and meta tensors work.
    """
    logp, w = _log_probs(logits, weight)
    k = logp.shape[1]
    target = target.long()
    ignore = target == ignore_index
    _check_target_values(logits, target, ignore_index)
    safe_t = target.masked_fill(ignore, 0)
    nll = -logp.gather(1, safe_t.unsqueeze(1)).squeeze(1)
    if w is not None:
        w_t = w[safe_t].masked_fill(ignore, 0.0)
        nll = nll * w_t
    else:
        w_t = (~ignore).to(logp.dtype)
    nll = nll.masked_fill(ignore, 0.0)
    if a == 0:
        per_elem = nll
    elif prior is None:
        smooth = -(logp if w is None else logp * _class_axis(w, logp)).sum(dim=1)
        per_elem = (1 - a) * nll + (a / k) * smooth.masked_fill(ignore, 0.0)
    else:
        mass = prior.to(logp.dtype) if w is None else prior.to(logp.dtype) * w
        smooth = -(logp * _class_axis(mass, logp)).sum(dim=1)
        per_elem = (1 - a) * nll + a * smooth.masked_fill(ignore, 0.0)
    # PyTorch normalises both terms by the summed weight of the targets.
    return reduce_rows(per_elem, reduction, w_t.sum()).to(_result_dtype(logits, target))


def _result_dtype(logits, target):
    """The dtype of the loss, as ``F.cross_entropy`` returns it.

    The logits' dtype; with probability targets, the promotion of both dtypes
    (float16 logits with float32 probabilities give float32).
    """
    if target.dtype.is_floating_point:
        return torch.promote_types(logits.dtype, target.dtype)
    return logits.dtype


def _autocast_logits(logits: torch.Tensor) -> torch.Tensor:
    """Under autocast, cross-entropy runs in float32 (PyTorch's fp32 op list): upcast."""
    if is_low_precision(logits.dtype) and autocast_enabled(logits.device.type):
        return logits.float()
    return logits


def ls_gradient(
    logits, target, alpha: float, convention: str = "uniform", *, prior=None
):
    """Closed-form gradient of the per-sample LS loss with respect to the logits.

    ``dL/dz = softmax(z) - y_LS`` where ``y_LS`` is the smoothed target
    (Szegedy et al. 2016); it holds for any target vector that sums to 1,
    including negative label smoothing (``alpha < 0``) and a ``prior``.

    Args:
        logits: ``(N, K)`` (or ``(K,)``) torch tensor or NumPy array.
        target: ``(N,)`` class indices in ``[0, K)``, or ``(N, K)`` probabilities.
        alpha: smoothing in ``(-inf, 1]`` in ``convention`` (usually [0, 1]).
        convention: ``"uniform"`` or ``"off_target"``.
        prior: optional length-K probability vector (default uniform).

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
    a = uniform_smoothing(alpha, k, convention)
    t = check_target_dtype(torch.as_tensor(target))
    if t.dtype.is_floating_point:
        t = t.reshape(z.shape) if unbatched and t.dim() == 1 else t
        if t.shape != z.shape:
            raise ValueError(
                f"probability target must have shape {tuple(z.shape)}, got {tuple(t.shape)}"
            )
        pi = (
            1.0 / k
            if prior is None
            else check_prior(prior, k, dtype=z.dtype, device=z.device)
        )
        y = t.to(z.dtype) * (1 - a) + a * pi
    else:
        t = t.reshape(-1)
        if t.shape[0] != z.shape[0]:
            raise ValueError(
                f"target has {t.shape[0]} entries but logits have batch size {z.shape[0]}"
            )
        check_class_range(t, k, "target values")
        if prior is None:
            y = torch.full_like(z, a / k)
            y.scatter_(1, t.long().unsqueeze(1), 1.0 - a + a / k)
        else:
            y = smooth_targets(t, k, a, prior=prior, dtype=z.dtype).to(z.device)
    grad = torch.softmax(z, dim=1) - y
    if unbatched:
        grad = grad.squeeze(0)
    return grad.numpy() if as_numpy else grad
