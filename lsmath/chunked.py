"""Memory-lean label-smoothed cross-entropy of a linear head, in chunks of rows.

``ls_linear_cross_entropy(hidden, weight, target, alpha)`` is the LS
cross-entropy of the logits ``hidden @ weight.T`` (a language-model head)
without ever holding the full ``N x V`` logits. Rows are processed
``chunk_size`` at a time, in the forward pass and again (recomputed, not
stored) in the backward pass. The row kernels and the autograd Functions live
in ``lsmath/_chunked_kernels.py`` (whose docstring derives the two terms and
the gradient); this module checks the arguments and picks the path.
"""

from __future__ import annotations

import torch

from ._chunked_kernels import (
    LinearLSCrossEntropy,
    autocast_enabled,
    default_chunk_size,
    fast_path_available,
    targets_in_range,
)
from ._validation import (
    check_ignore_index,
    check_index_target,
    check_positive_int,
    check_reduction,
)
from .targets import uniform_smoothing

__all__ = ["ls_linear_cross_entropy"]

# The old private name, kept for the benchmark script and tests.
_default_chunk_size = default_chunk_size


def ls_linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 0.0,
    *,
    chunk_size: int | None = None,
    convention: str = "uniform",
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""LS cross-entropy of the logits ``hidden @ weight.T``, never materialising them.

    Equal (up to float rounding) to
    ``ls_cross_entropy(hidden @ weight.T, target, alpha, ...)`` in the loss and in
    the gradients for ``hidden`` and ``weight``, but the ``N x V`` logits are
    only ever held ``chunk_size`` rows at a time. The backward pass recomputes
    each chunk of logits and forms ``G = (softmax - y_LS) * scale`` for it, then
    ``dL/dhidden[chunk] = G @ weight`` and ``dL/dweight += G.T @ hidden[chunk]``.
    Beyond its inputs and gradients the function keeps a few numbers per row
    and ``chunk_size x V`` buffers (one in float32/float64; for float16/bfloat16 a
    chunk in the input dtype and a float32 work copy, plus float32 accumulators:
    ``N x D`` for ``dL/dhidden`` and a block of rows of ``dL/dweight`` no larger
    than a chunk of logits; see the backward pass).

    Args:
        hidden: ``(N, D)`` (or ``(..., D)``) float tensor, e.g. the last hidden
            states of a language model.
        weight: ``(V, D)`` output projection (the unembedding), same dtype.
        target: integer class indices of shape ``hidden.shape[:-1]``, values in
            ``[0, V)`` or ``ignore_index``.
        alpha: smoothing in [0, 1] in ``convention`` (``"uniform"``: the mass
            ``alpha`` spread over all V classes, as in PyTorch; ``"off_target"``:
            mapped through ``alpha_from_eps``).
        chunk_size: rows per chunk; default ``max(256, ceil(N * D / V))``, at
            most ``N`` (a chunk of logits then has about as many entries as
            ``hidden``, and at least 256 rows keep the matrix products fast).
        convention: ``"uniform"`` (default, :math:`\alpha`) or ``"off_target"``
            (:math:`\varepsilon`, mapped to
            :math:`\alpha = \varepsilon V / (V - 1)`).
        ignore_index: target value whose rows contribute 0 (and no gradient).
        reduction: ``"mean"`` (over non-ignored rows), ``"sum"`` or ``"none"``
            (per-row losses, shape ``hidden.shape[:-1]``, 0 on ignored rows).

    Returns:
        The loss in ``hidden``'s dtype (float16/bfloat16 are computed in float32);
        float32 under ``torch.autocast``, as ``F.cross_entropy`` returns there.

    Supported: first derivatives for ``hidden`` and ``weight`` (autograd);
    ``torch.autocast`` (``hidden`` and ``weight`` may then differ in dtype: both
    are cast to the autocast dtype, as ``F.linear`` would); any device. Under
    ``torch.func`` transforms, forward-mode AD, ``torch.compile`` and for meta
    or fake tensors the function falls back to the plain (memory-hungry)
    ``ls_cross_entropy(hidden @ weight.T, ...)``, which supports them. Not
    supported: double backward (a clear RuntimeError when a second derivative
    is requested), bias and class weights (add the bias to ``hidden`` with an
    extra constant column; for class weights use ``ls_cross_entropy``).
    Speed (CPU, 2 threads, D = 256, default chunk; ``benchmarks/README.md``):
    float32 0.7-1.0x the naive path's time for N >= 1024, V = 32000, and
    1.55x at N = 1024, V = 8000; bfloat16 1.2-1.3x at those sizes (one more
    matrix product, and float32 work copies of each chunk). Chunks much
    smaller than 256 rows are several times slower. Use it where the memory
    of the ``N x V`` logits matters more than that time.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> h, W = torch.randn(6, 4, generator=g), torch.randn(50, 4, generator=g)
        >>> t = torch.tensor([1, 2, 3, 4, 5, -100])
        >>> from lsmath import ls_cross_entropy
        >>> a = ls_linear_cross_entropy(h, W, t, 0.1, chunk_size=2)
        >>> b = ls_cross_entropy(h @ W.T, t, 0.1)
        >>> bool(torch.isclose(a, b))
        True
    """
    a, chunk = _check_linear_arguments(
        hidden, weight, target, alpha, chunk_size, convention, ignore_index, reduction
    )
    batch_shape = tuple(target.shape)
    hidden, weight, out_dtype = _autocast_inputs(hidden, weight)
    h2, t1 = hidden.reshape(-1, hidden.shape[-1]), target.reshape(-1).long()
    if h2.shape[0] == 0 or not fast_path_available(h2, weight, t1):
        # empty batch, torch.func, forward-mode AD, torch.compile, meta/fake
        # tensors: the plain formula (which supports all of them)
        from .losses import ls_cross_entropy

        loss = ls_cross_entropy(
            h2 @ weight.t(), t1, a, ignore_index=ignore_index, reduction=reduction
        ).to(out_dtype)
    else:
        ignore = targets_in_range(t1, weight.shape[0], ignore_index)
        with torch.autocast(h2.device.type, enabled=False):
            loss = LinearLSCrossEntropy.apply(
                h2, weight, t1, a, ignore, reduction, chunk, out_dtype
            )
    return loss.reshape(batch_shape) if reduction == "none" else loss


def _check_linear_arguments(
    hidden, weight, target, alpha, chunk_size, convention, ignore_index, reduction
):
    """Validate ``ls_linear_cross_entropy``'s arguments; return ``(a, chunk)``."""
    for name, x in (("hidden", hidden), ("weight", weight), ("target", target)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not hidden.dtype.is_floating_point:
        raise TypeError(f"hidden must have a floating dtype, got {hidden.dtype}")
    if weight.dtype != hidden.dtype and not autocast_enabled(hidden.device.type):
        raise TypeError(
            f"weight must have the dtype of hidden ({hidden.dtype}), got {weight.dtype} "
            "(mixed dtypes are accepted under torch.autocast, as F.linear accepts them)"
        )
    if hidden.dim() < 1:
        raise ValueError("hidden must have shape (N, D) or (..., D), got a scalar")
    if weight.dim() != 2:
        raise ValueError(f"weight must have shape (V, D), got {tuple(weight.shape)}")
    d = hidden.shape[-1]
    if weight.shape[1] != d:
        raise ValueError(
            f"weight must have shape (V, D) with D = hidden.shape[-1] = {d}, "
            f"got {tuple(weight.shape)}"
        )
    check_index_target(target)
    if tuple(target.shape) != tuple(hidden.shape[:-1]):
        raise ValueError(
            f"target shape {tuple(target.shape)} does not match "
            f"hidden shape {tuple(hidden.shape)}: "
            f"expected {tuple(hidden.shape[:-1])}"
        )
    check_reduction(reduction)
    check_ignore_index(ignore_index)
    v = weight.shape[0]
    if v < 1:
        raise ValueError("weight must have at least one row (V >= 1)")
    a = uniform_smoothing(alpha, v, convention)
    n = max(1, target.numel())
    if chunk_size is None:
        return a, default_chunk_size(n, d, v)
    return a, check_positive_int(
        chunk_size, "chunk_size", allowed="a positive integer or None"
    )


def _autocast_inputs(hidden, weight):
    """Under autocast: cast both to the autocast dtype (as ``F.linear`` does); loss in float32.

    Returns ``(hidden, weight, out_dtype)``; outside autocast the inputs are
    unchanged and the loss has ``hidden``'s dtype.
    """
    device_type = hidden.device.type
    if not autocast_enabled(device_type):
        return hidden, weight, hidden.dtype
    try:
        dtype = torch.get_autocast_dtype(device_type)
    except AttributeError:  # torch < 2.4
        dtype = (
            torch.get_autocast_cpu_dtype()
            if device_type == "cpu"
            else torch.get_autocast_gpu_dtype()
        )
    return hidden.to(dtype), weight.to(dtype), torch.float32
