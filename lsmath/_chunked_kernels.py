"""Row kernels and autograd Functions behind the memory-lean LS cross-entropy.

Private: the public entry points are ``lsmath.ls_cross_entropy`` (losses.py),
which calls :func:`ls_cross_entropy_rows` for ``(N, K)`` logits with class
indices, and ``lsmath.ls_linear_cross_entropy`` (chunked.py), which calls
:class:`LinearLSCrossEntropy` for the logits ``hidden @ weight.T``.
``tests/reference_losses.py`` holds the plain formula both are tested against.

The formula. With ``m = max_k z_k``, ``s = sum_k exp(z_k - m)`` and
``lse = m + log s``, the two terms of the uniform-convention LS loss are

    -log p_t              = lse - z_t              = log s - (z_t - m)
    sum_k -w_k log p_k    = W lse - sum_k w_k z_k  = W log s - sum_k w_k (z_k - m)

(``W = sum_k w_k``; ``W = K`` without class weights), so a row needs only
three numbers from its logits: ``s``, the shifted true logit and the (weighted)
sum of the shifted logits. Shifting by ``m`` keeps every exponent ``<= 0`` and
every subtraction exact for logits as large as ``1e4``. The gradient of the
per-row loss ``(1 - a) w_t (-log p_t) + (a / K) sum_k w_k (-log p_k)`` is

    dL/dz_j = c p_j - (a / K) w_j - (1 - a) w_t [j == t],   c = (1 - a) w_t + (a / K) W,

which is ``p - y_LS`` when all ``w_k = 1``. With ``r_n`` the derivative of the
reduced loss by row n's loss, the backward pass writes, per row,

    grad_n = prob_scale_n * e_n - uniform_part_n * w + target_part_n * onehot(t_n)

with ``e_n = exp(z_n - m_n)`` and ``prob_scale_n = c_n r_n / s_n`` (or
``e_n = softmax(z_n)`` and ``prob_scale_n = c_n r_n``),
``uniform_part_n = (a / K) r_n`` and ``target_part_n = -(1 - a) w_t r_n``.
Low-precision inputs (float16, bfloat16) are shifted and exponentiated in
float32, one chunk at a time, so no full-size float32 copy of the logits is
ever made.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ._reduction import reduce_rows
from ._validation import compute_dtype

# Elements per chunk for ls_cross_entropy's row loop: 2**18 float32 = 1 MiB,
# small enough to stay in cache between the passes over a chunk.
CE_CHUNK_ELEMENTS = 2**18
# From this many classes on, PyTorch's fused (log-)softmax kernels are the
# fastest way through a chunk; below it (on CPU) plain elementwise ops win.
FUSED_MIN_K = 16


def targets_in_range(target: torch.Tensor, k: int, ignore_index: int) -> torch.Tensor:
    """Boolean mask of ignored targets; ValueError for targets outside [0, K)."""
    ignore = target == ignore_index
    if target.numel():
        lo, hi = (int(v) for v in torch.aminmax(target))
        if lo < 0 or hi >= k:  # rare path: look only at the non-ignored targets
            valid = target[~ignore]
            if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= k):
                raise ValueError(
                    f"target values must lie in [0, K) = [0, {k}) "
                    f"or equal ignore_index={ignore_index}; "
                    f"got min {int(valid.min())} and max {int(valid.max())}"
                )
    return ignore


# ----------------------------------------------------------------------------
# one chunk of rows
# ----------------------------------------------------------------------------


class RowStats(NamedTuple):
    """Per-row numbers of a chunk of logits, in the compute dtype."""

    row_max: torch.Tensor  # m = max_k z_k
    exp_sum: torch.Tensor  # s = sum_k exp(z_k - m)
    shifted_true: torch.Tensor  # z_t - m
    shifted_sum: torch.Tensor | None  # sum_k w_k (z_k - m), or None


def row_stats(
    logits: torch.Tensor,
    target: torch.Tensor,
    class_weight: torch.Tensor | None,
    need_smooth: bool,
    work: torch.Tensor,
) -> RowStats:
    """:class:`RowStats` of a chunk of logits ``(c, K)``, any float dtype.

    ``work`` is a ``(c, K)`` scratch buffer in the compute dtype; it may be
    ``logits`` itself. ``shifted_sum`` is computed only when ``need_smooth``.
    """
    # exact: a max is one of the values
    row_max = logits.amax(dim=1, keepdim=True).to(work.dtype)
    if logits.dtype == work.dtype:
        shifted = torch.sub(logits, row_max, out=work)
    else:  # low precision: convert into the float32 buffer (the shift is exact)
        shifted = work.copy_(logits).sub_(row_max)
    shifted_true = shifted.gather(1, target.unsqueeze(1)).squeeze(1)
    shifted_sum = None
    if need_smooth:
        shifted_sum = (
            shifted.sum(dim=1) if class_weight is None else shifted @ class_weight
        )
    exp_sum = shifted.exp_().sum(dim=1)
    return RowStats(row_max.squeeze(1), exp_sum, shifted_true, shifted_sum)


class RowGradient(NamedTuple):
    """Per-row coefficients of ``grad = prob_scale e - uniform_part w + target_part onehot``.

    ``row_max`` is None when ``e = softmax(z)`` (else ``e = exp(z - row_max)``);
    ``uniform_part`` is None when ``a = 0``.
    """

    row_max: torch.Tensor | None
    prob_scale: torch.Tensor
    uniform_part: torch.Tensor | None
    target_part: torch.Tensor

    def rows(self, start: int, stop: int) -> RowGradient:
        def part(x):
            return None if x is None else x[start:stop]

        return RowGradient(
            part(self.row_max),
            self.prob_scale[start:stop],
            part(self.uniform_part),
            self.target_part[start:stop],
        )


def write_row_gradient(
    logits: torch.Tensor,
    coefficients: RowGradient,
    class_weight: torch.Tensor | None,
    target: torch.Tensor,
    out: torch.Tensor,
) -> torch.Tensor:
    """Write the gradient rows of ``coefficients`` for a chunk of logits into ``out``.

    ``out`` (c, K) may be ``logits`` itself, or hold another dtype than it;
    ``class_weight`` are the class weights ``w`` or None (all ones).
    """
    row_max = coefficients.row_max
    if row_max is None:
        grad = torch.softmax(logits, 1, dtype=out.dtype, out=out)
    else:
        if logits.dtype == out.dtype:
            grad = torch.sub(logits, row_max.unsqueeze(1), out=out)
        else:
            grad = out.copy_(logits).sub_(row_max.unsqueeze(1))
        grad.exp_()
    grad.mul_(coefficients.prob_scale.unsqueeze(1))
    uniform_part = coefficients.uniform_part
    if uniform_part is not None:
        if class_weight is None:
            grad.sub_(uniform_part.unsqueeze(1))
        else:
            grad.addr_(uniform_part, class_weight, alpha=-1.0)
    grad.scatter_add_(1, target.unsqueeze(1), coefficients.target_part.unsqueeze(1))
    return grad


def row_scale(
    grad_out: torch.Tensor, reduction: str, denom, ignore: torch.Tensor, dtype
) -> torch.Tensor:
    """d(reduced loss)/d(per-row loss) for every row; exactly 0 on ignored rows."""
    grad = grad_out.to(dtype)
    if reduction == "none":
        scale = grad
    elif reduction == "sum":
        scale = grad.expand(ignore.shape)
    else:
        scale = (grad / denom).expand(ignore.shape)
    return torch.where(ignore, torch.zeros((), dtype=dtype), scale)


def _chunks(n: int, rows: int):
    """``(start, stop)`` of consecutive chunks of ``rows`` rows out of ``n``."""
    for start in range(0, n, rows):
        yield start, min(n, start + rows)


# ----------------------------------------------------------------------------
# (N, K) logits: the fast path of ls_cross_entropy
# ----------------------------------------------------------------------------


def _log_prob_terms(logits, safe_target, class_weight, need_smooth, work_dtype):
    """Per row: ``log p_t`` and ``sum_k w_k log p_k`` (or None), chunk by chunk.

    Also returns the row max and sum of exponentials (None on the fused path,
    where the backward pass recomputes the softmax).
    """
    n, k = logits.shape
    rows = max(1, min(n, CE_CHUNK_ELEMENTS // max(k, 1)))
    fused = k >= FUSED_MIN_K
    logp_true = torch.empty(n, dtype=work_dtype, device=logits.device)
    logp_sum = torch.empty_like(logp_true) if need_smooth else None
    row_max = exp_sum = None
    if not fused:
        row_max, exp_sum = torch.empty_like(logp_true), torch.empty_like(logp_true)
        weight_sum = float(k) if class_weight is None else class_weight.sum()
    work = torch.empty((rows, k), dtype=work_dtype, device=logits.device)
    for start, stop in _chunks(n, rows):
        chunk, target = logits[start:stop], safe_target[start:stop]
        if fused:
            logp = torch.log_softmax(
                chunk, 1, dtype=work_dtype, out=work[: stop - start]
            )
            torch.gather(
                logp, 1, target.unsqueeze(1), out=logp_true[start:stop].unsqueeze(1)
            )
            if need_smooth and class_weight is None:
                torch.sum(logp, 1, out=logp_sum[start:stop])
            elif need_smooth:
                torch.mv(logp, class_weight, out=logp_sum[start:stop])
            continue
        # log p_k = (z_k - m) - log s
        stats = row_stats(
            chunk, target, class_weight, need_smooth, work[: stop - start]
        )
        row_max[start:stop], exp_sum[start:stop] = stats.row_max, stats.exp_sum
        log_s = stats.exp_sum.log()
        logp_true[start:stop] = stats.shifted_true - log_s
        if need_smooth:
            logp_sum[start:stop] = stats.shifted_sum - weight_sum * log_s
    return logp_true, logp_sum, row_max, exp_sum


class LSCrossEntropyRows(torch.autograd.Function):
    """LS cross-entropy of (N, K) logits; backward writes dL/dz into one buffer.

    Forward, per chunk of rows: ``log p = log_softmax(z)`` (PyTorch's fused,
    max-shifted kernel, in float32 for low-precision input) gives both terms,
    ``-log p_t`` and ``-sum_k w_k log p_k``; only these two numbers per row are
    kept. Backward, per chunk: ``p = softmax(z)`` is written straight into the
    gradient buffer and turned into ``c p - (a/K) w - (1-a) w_t onehot`` in place.
    For fewer than ``FUSED_MIN_K`` classes, where PyTorch's CPU softmax kernels
    are slow, the same quantities come from the shifted logits by hand
    (:func:`row_stats`, keeping the row max and sum of exponentials for backward).
    """

    @staticmethod
    def forward(ctx, logits, target, a, weight, ignore, reduction):
        k = logits.shape[1]
        work_dtype = compute_dtype(logits.dtype)
        need_smooth = a != 0
        class_weight = None if weight is None else weight.to(work_dtype)
        safe_target = target.masked_fill(ignore, 0)
        logp_true, logp_sum, row_max, exp_sum = _log_prob_terms(
            logits, safe_target, class_weight, need_smooth, work_dtype
        )
        nll = logp_true.neg_()
        if class_weight is None:
            target_weight = (~ignore).to(work_dtype)
            per_row = nll if not need_smooth else (1 - a) * nll - (a / k) * logp_sum
        else:
            target_weight = class_weight[safe_target].masked_fill(ignore, 0.0)
            per_row = (1 - a) * target_weight * nll
            if need_smooth:
                per_row = per_row - (a / k) * logp_sum
        per_row = per_row.masked_fill(ignore, 0.0)
        denom = target_weight.sum() if reduction == "mean" else None
        loss = reduce_rows(per_row, reduction, denom)
        ctx.save_for_backward(
            logits,
            safe_target,
            ignore,
            target_weight,
            class_weight,
            denom,
            row_max,
            exp_sum,
        )
        ctx.a, ctx.reduction = a, reduction
        return loss.to(logits.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        logits, safe_target, ignore, target_weight, class_weight, denom = (
            ctx.saved_tensors[:6]
        )
        row_max, exp_sum = ctx.saved_tensors[6:]
        a, k = ctx.a, logits.shape[1]
        work_dtype = target_weight.dtype
        scale = row_scale(grad_out, ctx.reduction, denom, ignore, work_dtype)
        if class_weight is None:
            prob_scale = scale
        else:
            prob_scale = (
                (1 - a) * target_weight + (a / k) * class_weight.sum()
            ) * scale
        target_part = -(1 - a) * target_weight * scale
        if torch.is_grad_enabled() or functorch_active() or is_wrapped(grad_out):
            # create_graph=True, or a batched backward (is_grads_batched, vectorised
            # jacobian: vmap over this function): an out-of-place, differentiable
            # expression, so that second derivatives and vmap work.
            grad = _differentiable_row_gradient(
                logits, safe_target, a, class_weight, scale, prob_scale, target_part
            )
            return grad.to(logits.dtype), None, None, None, None, None
        coefficients = RowGradient(
            row_max,
            prob_scale if row_max is None else prob_scale / exp_sum,
            (a / k) * scale if a != 0 else None,
            target_part,
        )
        grad = _chunked_row_gradient(logits, safe_target, class_weight, coefficients)
        return grad, None, None, None, None, None


def _differentiable_row_gradient(
    logits, safe_target, a, class_weight, scale, prob_scale, target_part
):
    """``c p - (a/K) r w + target_part onehot`` out of place (double backward, vmap)."""
    k = logits.shape[1]
    work_dtype = scale.dtype
    probs = torch.softmax(logits, dim=1, dtype=work_dtype)
    grad = probs * prob_scale.unsqueeze(1)
    if a != 0:
        weights = (
            torch.ones(k, dtype=work_dtype, device=logits.device)
            if class_weight is None
            else class_weight
        )
        grad = grad - (a / k) * scale.unsqueeze(1) * weights.unsqueeze(0)
    return grad.scatter_add(1, safe_target.unsqueeze(1), target_part.unsqueeze(1))


def _chunked_row_gradient(logits, safe_target, class_weight, coefficients):
    """dL/dz in one ``(N, K)`` buffer of the logits' dtype, chunk by chunk."""
    n, k = logits.shape
    rows = max(1, min(n, CE_CHUNK_ELEMENTS // max(k, 1)))
    grad = torch.empty((n, k), dtype=logits.dtype, device=logits.device)
    work_dtype = coefficients.prob_scale.dtype
    if grad.dtype == work_dtype:  # float32/float64: write straight into grad
        for start, stop in _chunks(n, rows):
            write_row_gradient(
                logits[start:stop],
                coefficients.rows(start, stop),
                class_weight,
                safe_target[start:stop],
                grad[start:stop],
            )
        return grad
    # low precision: a float32 chunk; the uniform part is subtracted while
    # rounding into the output, saving one pass over the chunk
    work = torch.empty((rows, k), dtype=work_dtype, device=logits.device)
    for start, stop in _chunks(n, rows):
        chunk_coefficients = coefficients.rows(start, stop)
        uniform_part = chunk_coefficients.uniform_part
        chunk_grad = write_row_gradient(
            logits[start:stop],
            chunk_coefficients._replace(uniform_part=None),
            class_weight,
            safe_target[start:stop],
            work[: stop - start],
        )
        if uniform_part is None:
            grad[start:stop].copy_(chunk_grad)
        elif class_weight is None:
            torch.sub(chunk_grad, uniform_part.unsqueeze(1), out=grad[start:stop])
        else:
            torch.addr(
                chunk_grad, uniform_part, class_weight, alpha=-1.0, out=grad[start:stop]
            )
    return grad


def ls_cross_entropy_rows(logits, target, a, weight, ignore_index, reduction):
    """LS cross-entropy for (N, K) logits and (N,) class indices (validated here).

    ``a`` is the uniform-convention smoothing. Same values as the formula in
    ``losses.ls_cross_entropy``; see the module docstring for the two terms.
    """
    k = logits.shape[1]
    target = target.long()
    ignore = targets_in_range(target, k, ignore_index)
    return LSCrossEntropyRows.apply(logits, target, float(a), weight, ignore, reduction)


# ----------------------------------------------------------------------------
# where the custom backward can run
# ----------------------------------------------------------------------------


def functorch_active() -> bool:
    """True inside a torch.func transform (vmap, grad, jacrev, ...)."""
    functorch = getattr(torch._C, "_functorch", None)
    peek = getattr(functorch, "peek_interpreter_stack", None)
    return peek is not None and peek() is not None


def is_wrapped(x: torch.Tensor) -> bool:
    """True for a batched or functorch-wrapped tensor.

    ``autograd.grad(..., is_grads_batched=True)`` and ``jacobian(vectorize=True)``
    run the backward pass under vmap with a batched ``grad_out`` that no
    interpreter stack reports; only the tensor itself says so.
    """
    functorch = getattr(torch._C, "_functorch", None)
    for name in (
        "is_functorch_wrapped_tensor",
        "is_batchedtensor",
        "is_legacy_batchedtensor",
    ):
        check = getattr(functorch, name, None)
        if check is not None and check(x):
            return True
    return False


def fast_path_available(*tensors: torch.Tensor) -> bool:
    """False inside torch.func transforms, forward-mode AD, torch.compile tracing,
    or for meta tensors / FakeTensors / tensor subclasses among ``tensors``.

    There ``ls_cross_entropy`` uses its plain autograd formula instead of the
    custom backward of this module (which has no forward-mode or vmap rule and
    reads values with ``.item()``).
    """
    is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    if is_compiling is not None and is_compiling():
        return False
    for x in tensors:
        if (
            x.device.type == "meta"
            or type(x) is not torch.Tensor
            and not isinstance(x, torch.nn.Parameter)
        ):
            return False
    if functorch_active():
        return False
    if getattr(torch.autograd.forward_ad, "_current_level", -1) >= 0:
        return False
    return True


def autocast_enabled(device_type: str) -> bool:
    """Whether ``torch.autocast`` is on for ``device_type`` (any torch >= 2.1)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4
        return (
            torch.is_autocast_cpu_enabled()
            if device_type == "cpu"
            else torch.is_autocast_enabled()
        )


# ----------------------------------------------------------------------------
# hidden @ weight.T without the N x V logits
# ----------------------------------------------------------------------------


MIN_DEFAULT_CHUNK_ROWS = 256


def default_chunk_size(n: int, d: int, v: int) -> int:
    """``max(256, ceil(N * D / V))`` rows, at most ``N``.

    About ``N * D / V`` rows make a chunk of logits about as large as the
    hidden states, whatever N is. The floor of 256 rows keeps each matrix
    product large enough to run at full speed: with chunks of 9-33 rows
    (N * D / V at D = 256, V = 32000) the chunked loss took 1.8-5.2x the naive
    path's time on CPU in float32 and bfloat16, with 256 rows 0.7-1.55x
    (``benchmarks/README.md``, issue 18).
    """
    return max(1, min(n, max(MIN_DEFAULT_CHUNK_ROWS, -(-n * d // v))))


class LinearLSCrossEntropy(torch.autograd.Function):
    """LS cross-entropy of ``hidden @ weight.T``, the logits made ``chunk`` rows at a time.

    Forward keeps three numbers per row (:class:`RowStats`); backward
    (:func:`_linear_backward`) recomputes each chunk of logits.
    """

    @staticmethod
    def forward(ctx, hidden, weight, target, a, ignore, reduction, chunk, out_dtype):
        vocab = weight.shape[0]
        need_smooth = a != 0
        safe_target = target.masked_fill(ignore, 0)
        rows = min(chunk, hidden.shape[0])
        stats = _linear_row_stats(hidden, weight, safe_target, need_smooth, rows)
        log_s = stats.exp_sum.log()
        per_row = log_s - stats.shifted_true
        if need_smooth:
            smooth = vocab * log_s - stats.shifted_sum
            per_row = (1 - a) * per_row + (a / vocab) * smooth
        per_row = per_row.masked_fill(ignore, 0.0)
        count = (~ignore).sum().to(log_s.dtype)
        loss = reduce_rows(per_row, reduction, count)
        ctx.save_for_backward(
            hidden, weight, safe_target, ignore, stats.row_max, stats.exp_sum, count
        )
        ctx.a, ctx.reduction, ctx.chunk = a, reduction, rows
        return loss.to(out_dtype)

    @staticmethod
    def backward(ctx, grad_out):
        hidden, weight = ctx.saved_tensors[:2]
        with torch.no_grad(), torch.autocast(hidden.device.type, enabled=False):
            grad_h, grad_w = _linear_backward(ctx, grad_out)
        if torch.is_grad_enabled():  # create_graph=True: first derivatives only
            if grad_h is not None:
                grad_h = NoDoubleBackward.apply(grad_h, hidden, weight)
            if grad_w is not None:
                grad_w = NoDoubleBackward.apply(grad_w, hidden, weight)
        return grad_h, grad_w, None, None, None, None, None, None


def _linear_row_stats(hidden, weight, safe_target, need_smooth, rows) -> RowStats:
    """:class:`RowStats` of every row of ``hidden @ weight.T``, ``rows`` at a time."""
    n, vocab = hidden.shape[0], weight.shape[0]
    work_dtype = compute_dtype(hidden.dtype)
    row_max = torch.empty(n, dtype=work_dtype, device=hidden.device)
    exp_sum, shifted_true = torch.empty_like(row_max), torch.empty_like(row_max)
    shifted_sum = torch.empty_like(row_max) if need_smooth else None
    logits_buf = torch.empty((rows, vocab), dtype=hidden.dtype, device=hidden.device)
    work_buf = (
        logits_buf
        if hidden.dtype == work_dtype
        else torch.empty((rows, vocab), dtype=work_dtype, device=hidden.device)
    )
    for start, stop in _chunks(n, rows):
        logits = torch.mm(
            hidden[start:stop], weight.t(), out=logits_buf[: stop - start]
        )
        stats = row_stats(
            logits, safe_target[start:stop], None, need_smooth, work_buf[: stop - start]
        )
        row_max[start:stop], exp_sum[start:stop] = stats.row_max, stats.exp_sum
        shifted_true[start:stop] = stats.shifted_true
        if shifted_sum is not None:
            assert stats.shifted_sum is not None  # need_smooth
            shifted_sum[start:stop] = stats.shifted_sum
    return RowStats(row_max, exp_sum, shifted_true, shifted_sum)


class NoDoubleBackward(torch.autograd.Function):
    """Identity on a gradient, whose own backward raises a clear error."""

    @staticmethod
    def forward(ctx, grad, hidden, weight):
        return grad.view_as(grad)

    @staticmethod
    def backward(ctx, *_):
        raise RuntimeError(
            "ls_linear_cross_entropy does not support double backward (second derivatives): "
            "its backward pass recomputes the logits chunk by chunk without a graph. "
            "Use ls_cross_entropy(hidden @ weight.T, target, ...) for Hessians."
        )


class _LinearBackwardBuffers(NamedTuple):
    """Outputs, accumulators and scratch space of :func:`_linear_backward`."""

    grad_hidden: torch.Tensor | None  # dL/dhidden, input dtype
    grad_weight: torch.Tensor | None  # dL/dweight, input dtype
    hidden_acc: torch.Tensor | None  # float32 dL/dhidden when the vocabulary is split
    weight_acc: torch.Tensor | None  # float32 dL/dweight of one vocabulary block
    logits_flat: torch.Tensor  # a chunk of logits, input dtype
    grad_flat: torch.Tensor  # a chunk of dL/dlogits, compute dtype


def _vocab_block_rows(hidden, vocab, rows, low_precision) -> int:
    """Rows of ``weight`` per vocabulary block in the backward pass.

    In float32/float64 one block (the whole vocabulary), and dL/dW accumulates
    in place. In low precision, blocks of ``vocab_block`` rows of W with
    ``vocab_block * D`` about ``rows * V``, each block's dL/dW summed over the
    row chunks in float32 and then rounded once: the float32 accumulator is
    never larger than a chunk of logits (and never V x D).
    """
    if not low_precision:
        return vocab
    return max(1, min(vocab, -(-rows * vocab // hidden.shape[1])))


def _linear_backward_buffers(ctx, hidden, weight, rows, vocab_block, work_dtype):
    need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    low_precision = hidden.dtype != work_dtype
    vocab = weight.shape[0]
    hidden_acc = None
    if need_h and vocab_block < vocab:
        hidden_acc = torch.zeros(hidden.shape, dtype=work_dtype, device=hidden.device)
    weight_acc = None
    if need_w and low_precision:
        weight_acc = torch.empty(
            (vocab_block, weight.shape[1]), dtype=work_dtype, device=weight.device
        )
    logits_flat = torch.empty(
        rows * vocab_block, dtype=hidden.dtype, device=hidden.device
    )
    grad_flat = logits_flat
    if low_precision:
        grad_flat = torch.empty(
            rows * vocab_block, dtype=work_dtype, device=hidden.device
        )
    return _LinearBackwardBuffers(
        torch.empty_like(hidden) if need_h else None,
        torch.empty_like(weight) if need_w else None,
        hidden_acc,
        weight_acc,
        logits_flat,
        grad_flat,
    )


def _linear_backward(ctx, grad_out):
    """dL/dhidden and dL/dweight, chunk by chunk (see ``ls_linear_cross_entropy``).

    For every vocabulary block and chunk of rows: recompute the logits, form
    ``G = (softmax - y_LS) * scale`` in place, then ``dL/dhidden[chunk] = G @ W``
    and ``dL/dW[block] += G.T @ hidden[chunk]``.
    """
    hidden, weight, safe_target, ignore, row_max, exp_sum, count = ctx.saved_tensors
    a, rows = ctx.a, ctx.chunk
    vocab = weight.shape[0]
    work_dtype = row_max.dtype
    low_precision = hidden.dtype != work_dtype
    scale = row_scale(grad_out, ctx.reduction, count, ignore, work_dtype)
    coefficients = RowGradient(
        row_max,
        scale / exp_sum,  # c_n = scale_n without class weights
        (a / vocab) * scale if a != 0 else None,
        -(1 - a) * scale,
    )
    vocab_block = _vocab_block_rows(hidden, vocab, rows, low_precision)
    buffers = _linear_backward_buffers(
        ctx, hidden, weight, rows, vocab_block, work_dtype
    )
    for block_start in range(0, vocab, vocab_block):
        block_stop = min(vocab, block_start + vocab_block)
        _linear_backward_block(
            hidden,
            weight,
            safe_target,
            coefficients,
            buffers,
            rows,
            block_start,
            block_stop,
        )
    if buffers.hidden_acc is not None:
        buffers.grad_hidden.copy_(buffers.hidden_acc)
    return buffers.grad_hidden, buffers.grad_weight


def _linear_backward_block(
    hidden, weight, safe_target, coefficients, buffers, rows, block_start, block_stop
):
    """Add one vocabulary block's share to dL/dhidden and write its rows of dL/dW."""
    n, vocab = hidden.shape[0], weight.shape[0]
    work_dtype = coefficients.prob_scale.dtype
    low_precision = hidden.dtype != work_dtype
    weight_block = weight[block_start:block_stop]
    acc = None
    if buffers.grad_weight is not None:
        acc = (
            buffers.grad_weight[block_start:block_stop]
            if not low_precision
            else buffers.weight_acc[: block_stop - block_start]
        )
        acc.zero_()
    for start, stop in _chunks(n, rows):
        size = (stop - start) * (block_stop - block_start)
        shape = (stop - start, block_stop - block_start)
        logits = torch.mm(
            hidden[start:stop],
            weight_block.t(),
            out=buffers.logits_flat[:size].view(shape),
        )
        chunk_coefficients = coefficients.rows(start, stop)
        target = safe_target[start:stop]
        if block_stop - block_start < vocab:
            # the one-hot part only where the target falls in this block
            inside = (target >= block_start) & (target < block_stop)
            target = torch.where(inside, target - block_start, 0)
            chunk_coefficients = chunk_coefficients._replace(
                target_part=torch.where(inside, chunk_coefficients.target_part, 0.0)
            )
        grad = write_row_gradient(
            logits,
            chunk_coefficients,
            None,
            target,
            buffers.grad_flat[:size].view(shape),
        )
        # G in the input dtype, in the logits buffer
        grad_in = grad if not low_precision else logits.copy_(grad)
        if buffers.grad_hidden is not None:
            if buffers.hidden_acc is None:
                torch.mm(grad_in, weight_block, out=buffers.grad_hidden[start:stop])
            else:
                buffers.hidden_acc[start:stop] += grad_in @ weight_block
        if acc is None:
            continue
        if not low_precision:
            acc.addmm_(grad_in.t(), hidden[start:stop])
        elif grad.device.type == "cpu":  # float32 G times float32 rows of hidden
            acc.addmm_(grad.t(), hidden[start:stop].to(work_dtype))
        else:  # keep the product in the input dtype (tensor cores), sum in float32
            acc += grad_in.t() @ hidden[start:stop]
    if acc is not None and low_precision:
        buffers.grad_weight[block_start:block_stop] = acc
