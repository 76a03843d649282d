"""Memory-lean label-smoothed cross-entropy, computed in chunks of rows.

Two entry points share the kernels of this module:

* ``ls_linear_cross_entropy(hidden, weight, target, alpha)``: the LS
  cross-entropy of the logits ``hidden @ weight.T`` (a language-model head)
  without ever holding the full ``N x V`` logits. Rows are processed
  ``chunk_size`` at a time, in the forward pass and again (recomputed, not
  stored) in the backward pass.
* ``ls_cross_entropy`` (in ``losses.py``) calls ``_ls_cross_entropy_rows`` for
  ``(N, K)`` logits with class-index targets: the same two-term formula, with a
  backward pass that writes ``dL/dz`` into one ``N x K`` buffer.

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

which is ``p - y_LS`` when all ``w_k = 1``. Low-precision inputs (float16,
bfloat16) are shifted and exponentiated in float32, one chunk at a time, so no
full-size float32 copy of the logits is ever made.
"""

from __future__ import annotations

from numbers import Integral

import torch

from ._validation import (
    check_ignore_index,
    check_index_target,
    check_reduction,
)
from .targets import uniform_smoothing

__all__ = ["ls_linear_cross_entropy"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)
# Elements per chunk for ls_cross_entropy's row loop: 2**18 float32 = 1 MiB,
# small enough to stay in cache between the passes over a chunk.
_CE_CHUNK_ELEMENTS = 2**18
# From this many classes on, PyTorch's fused (log-)softmax kernels are the
# fastest way through a chunk; below it (on CPU) plain elementwise ops win.
_FUSED_MIN_K = 16


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in _LOW_PRECISION else dtype


def _targets_in_range(target: torch.Tensor, k: int, ignore_index: int) -> torch.Tensor:
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


def _row_stats(
    z: torch.Tensor,
    t: torch.Tensor,
    w: torch.Tensor | None,
    need_smooth: bool,
    buf: torch.Tensor,
):
    """Per-row statistics of a chunk of logits ``z`` (c, K), any float dtype.

    Returns ``m`` (row max), ``s`` (sum of exp(z - m)), ``zt`` (z_t - m) and
    ``ssum`` (sum_k w_k (z_k - m), or None), all in ``buf``'s dtype. ``buf`` is
    a (c, K) scratch buffer in the compute dtype; it may be ``z`` itself.
    """
    m = z.amax(dim=1, keepdim=True).to(buf.dtype)  # exact: a max is one of the values
    if z.dtype == buf.dtype:
        sh = torch.sub(z, m, out=buf)
    else:  # low precision: convert into the float32 buffer first (no hidden temporary)
        sh = buf.copy_(z).sub_(m)  # the shift is exact in float32
    zt = sh.gather(1, t.unsqueeze(1)).squeeze(1)
    ssum = None
    if need_smooth:
        ssum = sh.sum(dim=1) if w is None else sh @ w
    sh.exp_()
    s = sh.sum(dim=1)
    return m.squeeze(1), s, zt, ssum


def _row_grad_(z, m, coef, bvec, w, t, dvec, out):
    """Write the gradient rows ``coef * e - bvec w - onehot(t) * (-dvec)`` into ``out``.

    ``e = exp(z - m)`` when ``m`` (the row max) is given, else ``e = softmax(z)``.
    For row n with scale ``r_n = d(reduced loss)/d(loss_n)``: ``coef = c r_n / s``
    with ``m`` (so that ``coef * e = c r_n p``) or ``c r_n`` without,
    ``bvec = (a / K) r_n`` (None when ``a = 0``) and ``dvec = -(1 - a) w_t r_n``;
    ``w`` are class weights or None. ``out`` (c, K) may be ``z`` itself, or hold
    another dtype than ``z``.
    """
    if m is None:
        g = torch.softmax(z, 1, dtype=out.dtype, out=out)
    else:
        if z.dtype == out.dtype:
            g = torch.sub(z, m.unsqueeze(1), out=out)
        else:
            g = out.copy_(z).sub_(m.unsqueeze(1))
        g.exp_()
    g.mul_(coef.unsqueeze(1))
    if bvec is not None:
        if w is None:
            g.sub_(bvec.unsqueeze(1))
        else:
            g.addr_(bvec, w, alpha=-1.0)
    g.scatter_add_(1, t.unsqueeze(1), dvec.unsqueeze(1))
    return g


def _row_scale(
    grad_out: torch.Tensor, reduction: str, denom, ignore: torch.Tensor, dtype
) -> torch.Tensor:
    """d(reduced loss)/d(per-row loss) for every row; exactly 0 on ignored rows."""
    g = grad_out.to(dtype)
    if reduction == "none":
        scale = g
    elif reduction == "sum":
        scale = g.expand(ignore.shape)
    else:
        scale = (g / denom).expand(ignore.shape)
    return torch.where(ignore, torch.zeros((), dtype=dtype), scale)


# ----------------------------------------------------------------------------
# (N, K) logits: the fast path of ls_cross_entropy
# ----------------------------------------------------------------------------


class _LSCrossEntropyRows(torch.autograd.Function):
    """LS cross-entropy of (N, K) logits; backward writes dL/dz into one buffer.

    Forward, per chunk of rows: ``log p = log_softmax(z)`` (PyTorch's fused,
    max-shifted kernel, in float32 for low-precision input) gives both terms,
    ``-log p_t`` and ``-sum_k w_k log p_k``; only these two numbers per row are
    kept. Backward, per chunk: ``p = softmax(z)`` is written straight into the
    gradient buffer and turned into ``c p - (a/K) w - (1-a) w_t onehot`` in place.
    For fewer than ``_FUSED_MIN_K`` classes, where PyTorch's CPU softmax kernels
    are slow, the same quantities come from the shifted logits by hand
    (``_row_stats``, keeping the row max and sum of exponentials for backward).
    """

    @staticmethod
    def forward(ctx, logits, target, a, weight, ignore, reduction):
        n, k = logits.shape
        cdt = _compute_dtype(logits.dtype)
        rows = max(1, min(n, _CE_CHUNK_ELEMENTS // max(k, 1)))
        need_smooth = a != 0
        fused = k >= _FUSED_MIN_K
        w = None if weight is None else weight.to(cdt)
        safe_t = target.masked_fill(ignore, 0)
        logp_t = torch.empty(n, dtype=cdt, device=logits.device)
        logp_sum = torch.empty_like(logp_t) if need_smooth else None
        m = s = None
        if not fused:
            m, s = torch.empty_like(logp_t), torch.empty_like(logp_t)
            wsum = float(k) if w is None else w.sum()
        buf = torch.empty((rows, k), dtype=cdt, device=logits.device)
        for i in range(0, n, rows):
            j = min(n, i + rows)
            if fused:
                lp = torch.log_softmax(logits[i:j], 1, dtype=cdt, out=buf[: j - i])
                torch.gather(
                    lp, 1, safe_t[i:j].unsqueeze(1), out=logp_t[i:j].unsqueeze(1)
                )
                if need_smooth:
                    if w is None:
                        torch.sum(lp, 1, out=logp_sum[i:j])
                    else:
                        torch.mv(lp, w, out=logp_sum[i:j])
            else:  # log p_k = (z_k - m) - log s
                mi, si, zi, ssi = _row_stats(
                    logits[i:j], safe_t[i:j], w, need_smooth, buf[: j - i]
                )
                m[i:j], s[i:j] = mi, si
                log_s = si.log()
                logp_t[i:j] = zi - log_s
                if need_smooth:
                    logp_sum[i:j] = ssi - wsum * log_s
        del buf
        nll = logp_t.neg_()
        if w is None:
            w_t = (~ignore).to(cdt)
            per = nll if not need_smooth else (1 - a) * nll - (a / k) * logp_sum
        else:
            w_t = w[safe_t].masked_fill(ignore, 0.0)
            per = (1 - a) * w_t * nll
            if need_smooth:
                per = per - (a / k) * logp_sum
        per = per.masked_fill(ignore, 0.0)
        if reduction == "none":
            loss = per
            denom = None
        elif reduction == "sum":
            loss = per.sum()
            denom = None
        else:
            denom = w_t.sum()
            loss = per.sum() / denom
        ctx.save_for_backward(logits, safe_t, ignore, w_t, w, denom, m, s)
        ctx.a, ctx.reduction = a, reduction
        return loss.to(logits.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        logits, safe_t, ignore, w_t, w, denom, m, s = ctx.saved_tensors
        a, reduction = ctx.a, ctx.reduction
        n, k = logits.shape
        cdt = w_t.dtype
        scale = _row_scale(grad_out, reduction, denom, ignore, cdt)
        c = scale if w is None else ((1 - a) * w_t + (a / k) * w.sum()) * scale
        dvec = -(1 - a) * w_t * scale
        if torch.is_grad_enabled() or _functorch_active() or _is_wrapped(grad_out):
            # create_graph=True, or a batched backward (is_grads_batched, vectorised
            # jacobian: vmap over this function): an out-of-place, differentiable
            # expression, so that second derivatives and vmap work.
            p = torch.softmax(logits, dim=1, dtype=cdt)
            g = p * c.unsqueeze(1)
            if a != 0:
                wk = torch.ones(k, dtype=cdt, device=logits.device) if w is None else w
                g = g - (a / k) * scale.unsqueeze(1) * wk.unsqueeze(0)
            g = g.scatter_add(1, safe_t.unsqueeze(1), dvec.unsqueeze(1))
            return g.to(logits.dtype), None, None, None, None, None
        coef = c if m is None else c / s
        bvec = (a / k) * scale if a != 0 else None
        rows = max(1, min(n, _CE_CHUNK_ELEMENTS // max(k, 1)))
        grad = torch.empty((n, k), dtype=logits.dtype, device=logits.device)
        direct = grad.dtype == cdt  # float32/float64: write straight into grad
        tmp = (
            None if direct else torch.empty((rows, k), dtype=cdt, device=logits.device)
        )
        for i in range(0, n, rows):
            j = min(n, i + rows)
            if direct:
                _row_grad_(
                    logits[i:j],
                    None if m is None else m[i:j],
                    coef[i:j],
                    None if bvec is None else bvec[i:j],
                    w,
                    safe_t[i:j],
                    dvec[i:j],
                    grad[i:j],
                )
                continue
            # low precision: float32 chunk; the uniform part is subtracted while
            # rounding into the output, saving one pass over the chunk
            g = _row_grad_(
                logits[i:j],
                None if m is None else m[i:j],
                coef[i:j],
                None,
                w,
                safe_t[i:j],
                dvec[i:j],
                tmp[: j - i],
            )
            if bvec is None:
                grad[i:j].copy_(g)
            elif w is None:
                torch.sub(g, bvec[i:j].unsqueeze(1), out=grad[i:j])
            else:
                torch.addr(g, bvec[i:j], w, alpha=-1.0, out=grad[i:j])
        return grad, None, None, None, None, None


def _ls_cross_entropy_rows(logits, target, a, weight, ignore_index, reduction):
    """LS cross-entropy for (N, K) logits and (N,) class indices (validated here).

    ``a`` is the uniform-convention smoothing. Same values as the formula in
    ``losses.ls_cross_entropy``; see the module docstring for the two terms.
    """
    k = logits.shape[1]
    target = target.long()
    ignore = _targets_in_range(target, k, ignore_index)
    return _LSCrossEntropyRows.apply(
        logits, target, float(a), weight, ignore, reduction
    )


def _functorch_active() -> bool:
    """True inside a torch.func transform (vmap, grad, jacrev, ...)."""
    functorch = getattr(torch._C, "_functorch", None)
    peek = getattr(functorch, "peek_interpreter_stack", None)
    return peek is not None and peek() is not None


def _is_wrapped(x: torch.Tensor) -> bool:
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


def _fast_path_available(*tensors: torch.Tensor) -> bool:
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
    if _functorch_active():
        return False
    if getattr(torch.autograd.forward_ad, "_current_level", -1) >= 0:
        return False
    return True


# ----------------------------------------------------------------------------
# hidden @ weight.T without the N x V logits
# ----------------------------------------------------------------------------


def _default_chunk_size(n: int, d: int, v: int) -> int:
    # About N * D / V rows: one chunk of logits then has about as many entries
    # as the hidden states themselves, whatever N is.
    return max(1, min(n, -(-n * d // v)))


class _LinearLSCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, target, a, ignore, reduction, chunk, out_dtype):
        n, _ = hidden.shape
        v = weight.shape[0]
        cdt = _compute_dtype(hidden.dtype)
        need_smooth = a != 0
        safe_t = target.masked_fill(ignore, 0)
        m = torch.empty(n, dtype=cdt, device=hidden.device)
        s, zt = torch.empty_like(m), torch.empty_like(m)
        ssum = torch.empty_like(m) if need_smooth else None
        rows = min(chunk, n)
        lbuf = torch.empty((rows, v), dtype=hidden.dtype, device=hidden.device)
        fbuf = (
            lbuf
            if hidden.dtype == cdt
            else torch.empty((rows, v), dtype=cdt, device=hidden.device)
        )
        for i in range(0, n, rows):
            j = min(n, i + rows)
            z = torch.mm(hidden[i:j], weight.t(), out=lbuf[: j - i])
            mi, si, zi, ssi = _row_stats(
                z, safe_t[i:j], None, need_smooth, fbuf[: j - i]
            )
            m[i:j], s[i:j], zt[i:j] = mi, si, zi
            if need_smooth:
                ssum[i:j] = ssi
        del lbuf, fbuf
        logs = s.log()
        per = logs - zt
        if need_smooth:
            per = (1 - a) * per + (a / v) * (v * logs - ssum)
        per = per.masked_fill(ignore, 0.0)
        count = (~ignore).sum().to(cdt)
        if reduction == "none":
            loss = per
        elif reduction == "sum":
            loss = per.sum()
        else:
            loss = per.sum() / count
        ctx.save_for_backward(hidden, weight, safe_t, ignore, m, s, count)
        ctx.a, ctx.reduction, ctx.chunk = a, reduction, rows
        return loss.to(out_dtype)

    @staticmethod
    def backward(ctx, grad_out):
        hidden, weight = ctx.saved_tensors[:2]
        with torch.no_grad(), torch.autocast(hidden.device.type, enabled=False):
            grad_h, grad_w = _linear_backward(ctx, grad_out)
        if torch.is_grad_enabled():  # create_graph=True: first derivatives only
            grad_h = (
                None
                if grad_h is None
                else _NoDoubleBackward.apply(grad_h, hidden, weight)
            )
            grad_w = (
                None
                if grad_w is None
                else _NoDoubleBackward.apply(grad_w, hidden, weight)
            )
        return grad_h, grad_w, None, None, None, None, None, None


class _NoDoubleBackward(torch.autograd.Function):
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


def _linear_backward(ctx, grad_out):
    """dL/dhidden and dL/dweight, chunk by chunk (see ``ls_linear_cross_entropy``)."""
    hidden, weight, safe_t, ignore, m, s, count = ctx.saved_tensors
    a, reduction, rows = ctx.a, ctx.reduction, ctx.chunk
    n, _ = hidden.shape
    v = weight.shape[0]
    cdt = m.dtype
    need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    scale = _row_scale(grad_out, reduction, count, ignore, cdt)
    coef = scale / s  # c_n = scale_n without class weights
    bvec = (a / v) * scale if a != 0 else None
    dvec = -(1 - a) * scale
    low = hidden.dtype != cdt
    # Vocabulary blocks: in float32/float64 one block (the whole vocabulary),
    # and dL/dW accumulates in place. In low precision, blocks of vb rows of W
    # with vb * D about rows * V, each block's dL/dW summed over the row chunks
    # in float32 and then rounded once: the float32 accumulator is never
    # larger than a chunk of logits (and never V x D).
    vb = v if not low else max(1, min(v, -(-rows * v // hidden.shape[1])))
    grad_h = torch.empty_like(hidden) if need_h else None
    grad_w = torch.empty_like(weight) if need_w else None
    h_acc = (
        torch.zeros(hidden.shape, dtype=cdt, device=hidden.device)
        if need_h and vb < v
        else None
    )
    w_acc = (
        torch.empty((vb, weight.shape[1]), dtype=cdt, device=weight.device)
        if need_w and low
        else None
    )
    lflat = torch.empty(rows * vb, dtype=hidden.dtype, device=hidden.device)
    gflat = (
        lflat if not low else torch.empty(rows * vb, dtype=cdt, device=hidden.device)
    )
    for b0 in range(0, v, vb):
        b1 = min(v, b0 + vb)
        wb = weight[b0:b1]
        acc = None
        if need_w:
            acc = grad_w[b0:b1] if not low else w_acc[: b1 - b0]
            acc.zero_()
        for i in range(0, n, rows):
            j = min(n, i + rows)
            shape = (j - i, b1 - b0)
            z = torch.mm(
                hidden[i:j], wb.t(), out=lflat[: shape[0] * shape[1]].view(shape)
            )
            t_blk, d_blk = safe_t[i:j], dvec[i:j]
            if vb < v:  # the one-hot part only where the target falls in this block
                inside = (t_blk >= b0) & (t_blk < b1)
                t_blk = torch.where(inside, t_blk - b0, 0)
                d_blk = torch.where(inside, d_blk, 0.0)
            bv = None if bvec is None else bvec[i:j]
            g = _row_grad_(
                z,
                m[i:j],
                coef[i:j],
                bv,
                None,
                t_blk,
                d_blk,
                gflat[: shape[0] * shape[1]].view(shape),
            )
            g_in = (
                g if not low else z.copy_(g)
            )  # G in the input dtype, in the logits buffer
            if need_h:
                if h_acc is None:
                    torch.mm(g_in, wb, out=grad_h[i:j])
                else:
                    h_acc[i:j] += g_in @ wb
            if need_w:
                if not low:
                    acc.addmm_(g_in.t(), hidden[i:j])
                elif g.device.type == "cpu":  # float32 G times float32 rows of hidden
                    acc.addmm_(g.t(), hidden[i:j].to(cdt))
                else:  # keep the product in the input dtype (tensor cores), sum in float32
                    acc += g_in.t() @ hidden[i:j]
        if need_w and low:
            grad_w[b0:b1] = acc
    if h_acc is not None:
        grad_h.copy_(h_acc)
    return grad_h, grad_w


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
    """LS cross-entropy of the logits ``hidden @ weight.T``, never materialising them.

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
        chunk_size: rows per chunk; default about ``N * D / V`` (a chunk of
            logits then has as many entries as ``hidden``).
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
    Speed: on CPU in bfloat16 the chunked matrix products are slower than one
    large product; use it where the memory of the ``N x V`` logits matters.

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
    if h2.shape[0] == 0 or not _fast_path_available(h2, weight, t1):
        # empty batch, torch.func, forward-mode AD, torch.compile, meta/fake
        # tensors: the plain formula (which supports all of them)
        from .losses import ls_cross_entropy

        loss = ls_cross_entropy(
            h2 @ weight.t(), t1, a, ignore_index=ignore_index, reduction=reduction
        ).to(out_dtype)
    else:
        ignore = _targets_in_range(t1, weight.shape[0], ignore_index)
        with torch.autocast(h2.device.type, enabled=False):
            loss = _LinearLSCrossEntropy.apply(
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
    if weight.dtype != hidden.dtype and not _autocast_enabled(hidden.device.type):
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
        return a, _default_chunk_size(n, d, v)
    if (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, Integral)
        or chunk_size < 1
    ):
        raise ValueError(
            f"chunk_size must be a positive integer or None, got {chunk_size!r}"
        )
    return a, int(chunk_size)


def _autocast_enabled(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4
        return (
            torch.is_autocast_cpu_enabled()
            if device_type == "cpu"
            else torch.is_autocast_enabled()
        )


def _autocast_inputs(hidden, weight):
    """Under autocast: cast both to the autocast dtype (as ``F.linear`` does); loss in float32.

    Returns ``(hidden, weight, out_dtype)``; outside autocast the inputs are
    unchanged and the loss has ``hidden``'s dtype.
    """
    device_type = hidden.device.type
    if not _autocast_enabled(device_type):
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


# ----------------------------------------------------------------------------
# measuring peak memory (used by the tests and benchmarks/)
# ----------------------------------------------------------------------------


def peak_memory_bytes(fn, device="cpu") -> int:
    """Peak bytes that torch allocates while ``fn()`` runs, beyond what was live before.

    On CUDA this is ``torch.cuda.max_memory_allocated`` after a reset, minus
    ``memory_allocated`` before the call. On CPU, where torch keeps no such
    counter, ``fn`` runs under ``torch.profiler`` with ``profile_memory=True``:
    every allocation and free through torch's CPU allocator is recorded with
    the running total of live bytes, and the answer is the largest running
    total minus the total before the first event. The count is exact and
    deterministic (tensor bytes, not pages or allocator caches); memory that
    torch does not allocate (Python objects, libraries) is not included.
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
        fn()
        torch.cuda.synchronize(dev)
        return int(torch.cuda.max_memory_allocated(dev) - base)
    if dev.type != "cpu":
        raise ValueError(f"device must be 'cpu' or a CUDA device, got {device!r}")
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    totals, befores = [], []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        if node.typed[0] == _EventType.Allocation:
            extra = node.extra_fields
            if extra.device.type == "cpu":
                totals.append(extra.total_allocated)
                befores.append(extra.total_allocated - extra.alloc_size)
        stack.extend(node.children)
    if not totals:
        return 0
    return int(max(0, max(totals) - min(befores)))
