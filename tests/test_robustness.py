"""Hard inputs for the LS losses: low precision, logits of size 1e4, many classes,
second derivatives and torch.func, property tests across shapes, dtypes and alpha.

ls_cross_entropy has a fast path for (N, K) logits with class indices (chunks of
rows, a custom backward; lsmath/_chunked_kernels.py) and a plain autograd formula for the
rest; both are checked here against PyTorch and against each other.
"""

from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import lsmath._chunked_kernels as kernels
from benchmarks._common import peak_memory_bytes
from lsmath import ls_cross_entropy, ls_linear_cross_entropy

LOW = (torch.float16, torch.bfloat16)
# relative tolerance of each dtype's final rounding (the arithmetic is float32 or better)
TOL = {
    torch.float64: 1e-10,
    torch.float32: 2e-5,
    torch.bfloat16: 1.2e-2,
    torch.float16: 2e-3,
}
DTYPES = list(TOL)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.py


def _formula_path():
    """Force ls_cross_entropy onto its plain autograd formula."""
    return mock.patch("lsmath.losses.fast_path_available", return_value=False)


def _loss_and_grad(fn, z, reduction, upstream_seed=0):
    z = z.detach().clone().requires_grad_()
    loss = fn(z)
    if reduction == "none":
        g = torch.Generator().manual_seed(upstream_seed)
        up = torch.rand(loss.shape, generator=g, dtype=torch.float64).to(loss.dtype)
        (loss * up).sum().backward()
    else:
        loss.backward()
    return loss.detach(), z.grad


def _assert_close_rel(ours, ref, tol):
    ours, ref = ours.double(), ref.double()
    scale = 1.0 + ref.abs().max().item() if ref.numel() else 1.0
    assert torch.isfinite(ours).all()
    err = (ours - ref).abs().max().item() if ref.numel() else 0.0
    assert err <= tol * scale, (err, tol * scale)


# ---------- property tests -----------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 9),
    k=st.integers(2, 40),
    dtype=st.sampled_from(DTYPES),
    alpha=st.floats(0.0, 1.0),
    log_scale=st.floats(-2.0, 4.0),
    reduction=st.sampled_from(["none", "sum", "mean"]),
    use_weight=st.booleans(),
    ignore=st.booleans(),
    chunk_elements=st.integers(1, 200),
    fused_min_k=st.sampled_from([2, 16, 1000]),
    seed=st.integers(0, 2**16),
)
def test_property_ls_cross_entropy_matches_torch(
    n,
    k,
    dtype,
    alpha,
    log_scale,
    reduction,
    use_weight,
    ignore,
    chunk_elements,
    fused_min_k,
    seed,
):
    """Loss and dL/dz equal PyTorch's (computed in float64 on the same, rounded logits)
    for logits up to 1e4 in size, in every dtype, with the row loop forced into small
    chunks, through both kernels of the fast path (fused log-softmax, or by hand)."""
    if dtype == torch.float16 and reduction == "sum":
        log_scale = min(
            log_scale, 3.0
        )  # a float16 sum of n losses of size 1e4 overflows 65504
    g = torch.Generator().manual_seed(seed)
    z = (torch.randn(n, k, generator=g, dtype=torch.float64) * 10**log_scale).to(dtype)
    t = torch.randint(0, k, (n,), generator=g)
    if ignore:
        t[torch.rand(n, generator=g) < 0.3] = -100
    w = torch.rand(k, generator=g, dtype=torch.float64) + 0.2 if use_weight else None
    ref = _loss_and_grad(
        lambda x: F.cross_entropy(
            x.double(), t, weight=w, label_smoothing=alpha, reduction=reduction
        ),
        z,
        reduction,
    )
    wd = None if w is None else w.to(dtype if dtype == torch.float64 else torch.float32)
    with (
        mock.patch.object(kernels, "CE_CHUNK_ELEMENTS", chunk_elements),
        mock.patch.object(kernels, "FUSED_MIN_K", fused_min_k),
    ):
        fast = _loss_and_grad(
            lambda x: ls_cross_entropy(x, t, alpha, weight=wd, reduction=reduction),
            z,
            reduction,
        )
    with _formula_path():
        plain = _loss_and_grad(
            lambda x: ls_cross_entropy(x, t, alpha, weight=wd, reduction=reduction),
            z,
            reduction,
        )
    assert fast[0].dtype == dtype and fast[1].dtype == dtype
    if reduction == "mean" and ignore and bool((t == -100).all()):
        return  # 0/0: NaN in PyTorch and here (tested separately)
    for ours in (fast, plain):
        _assert_close_rel(ours[0], ref[0], TOL[dtype])
        _assert_close_rel(ours[1], ref[1], TOL[dtype])


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 10),
    d=st.integers(1, 6),
    v=st.integers(2, 30),
    dtype=st.sampled_from(DTYPES),
    alpha=st.floats(0.0, 1.0),
    log_scale=st.floats(-1.0, 2.0),
    chunk=st.one_of(st.none(), st.integers(1, 12)),
    reduction=st.sampled_from(["none", "sum", "mean"]),
    seed=st.integers(0, 2**16),
)
def test_property_linear_matches_naive(
    n, d, v, dtype, alpha, log_scale, chunk, reduction, seed
):
    """ls_linear_cross_entropy: loss and both gradients as accurate as the naive path."""
    g = torch.Generator().manual_seed(seed)
    h64 = torch.randn(n, d, generator=g, dtype=torch.float64).to(dtype).double()
    w64 = (
        (torch.randn(v, d, generator=g, dtype=torch.float64) * 10**log_scale)
        .to(dtype)
        .double()
    )
    t = torch.randint(0, v, (n,), generator=g)
    if n > 1:
        t[torch.rand(n, generator=g) < 0.2] = -100
        t[0] = 0

    def run(fn, cast):
        h = h64.to(cast).clone().requires_grad_()
        w = w64.to(cast).clone().requires_grad_()
        loss = fn(h, w)
        (loss.sum() if reduction == "none" else loss).backward()
        return loss.detach().double(), h.grad.double(), w.grad.double()

    ref = run(
        lambda h, w: F.cross_entropy(
            h @ w.T, t, label_smoothing=alpha, reduction=reduction
        ),
        torch.float64,
    )
    ours = run(
        lambda h, w: ls_linear_cross_entropy(
            h, w, t, alpha, chunk_size=chunk, reduction=reduction
        ),
        dtype,
    )
    naive = run(
        lambda h, w: ls_cross_entropy(h @ w.T, t, alpha, reduction=reduction), dtype
    )
    for o, nv, r in zip(ours, naive, ref):
        scale = 1.0 + r.abs().max().item()
        err = (o - r).abs().max().item()
        assert torch.isfinite(o).all()
        if dtype in LOW:  # both round the logits to the input dtype
            assert err <= 2 * (nv - r).abs().max().item() + TOL[dtype] * scale
        else:
            assert err <= 100 * TOL[dtype] * scale


# ---------- logits of size 1e4 ------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_offset_logits_keep_full_precision(dtype):
    """z = 1e4 + O(spacing): -log p depends only on differences, and so must the result.
    (A formula without the max shift, K * lse - sum_k z_k, loses digits here.)"""
    g = torch.Generator().manual_seed(0)
    spacing = {torch.bfloat16: 64.0, torch.float16: 8.0}.get(
        dtype, 1.0
    )  # ulp of 1e4 in low precision
    z = (1e4 + spacing * torch.randn(6, 50, generator=g, dtype=torch.float64)).to(dtype)
    t = torch.randint(0, 50, (6,), generator=g)
    ref = F.cross_entropy(z.double() - 1e4, t, label_smoothing=0.2, reduction="none")
    _assert_close_rel(ls_cross_entropy(z, t, 0.2, reduction="none"), ref, TOL[dtype])
    # unshifted arithmetic in float32 would be off by about K * ulp(1e4) / K = 1e-3 here
    if dtype == torch.float32:
        assert (
            ls_cross_entropy(z, t, 0.2, reduction="none").double() - ref
        ).abs().max() < 2e-5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_linear_large_logits(dtype):
    """Logits ~1e4 through hidden @ weight.T: finite, and as exact as the rounding of
    the logits themselves allows (ulp(1e4) in float32 is about 1e-3)."""
    g = torch.Generator().manual_seed(0)
    h = torch.cat(
        [
            torch.ones(6, 1, dtype=torch.float64),
            torch.randn(6, 8, generator=g, dtype=torch.float64),
        ],
        1,
    )
    w = torch.cat(
        [
            torch.full((50, 1), 1e4, dtype=torch.float64),
            30 * torch.randn(50, 8, generator=g, dtype=torch.float64),
        ],
        1,
    )
    t = torch.randint(0, 50, (6,), generator=g)
    ref = F.cross_entropy(h @ w.T, t, label_smoothing=0.2, reduction="none")
    hh, ww = h.to(dtype).requires_grad_(), w.to(dtype).requires_grad_()
    lin = ls_linear_cross_entropy(hh, ww, t, 0.2, reduction="none", chunk_size=4)
    lin.sum().backward()
    assert torch.isfinite(hh.grad).all() and torch.isfinite(ww.grad).all()
    tol = 1e-2 if dtype == torch.float32 else 1e-9
    assert (lin.double() - ref).abs().max() < tol


@pytest.mark.parametrize("dtype", DTYPES)
def test_huge_spread_logits_finite_gradient(dtype):
    z = torch.tensor(
        [[1e4, 0.0, -1e4, 5e3], [-1e4, -1e4, -1e4, 1e4]],
        dtype=dtype,
        requires_grad=True,
    )
    t = torch.tensor([1, 3])
    loss = ls_cross_entropy(z, t, 0.1)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    zr = z.detach().double().requires_grad_()
    ref = F.cross_entropy(zr, t, label_smoothing=0.1)
    ref.backward()
    _assert_close_rel(loss, ref, TOL[dtype])
    _assert_close_rel(z.grad, zr.grad, TOL[dtype])


# ---------- the fast path's backward: many classes, reuse, second derivatives ---


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_many_classes_several_chunks(dtype):
    n, k = 8, 70_000  # 2**18 // k = 3 rows per chunk: the row loop runs 3 times
    g = torch.Generator().manual_seed(1)
    z = (torch.randn(n, k, generator=g) * 4).to(dtype)
    t = torch.randint(0, k, (n,), generator=g)
    t[2] = -100
    ours = _loss_and_grad(lambda x: ls_cross_entropy(x, t, 0.1), z, "mean")
    ref = _loss_and_grad(
        lambda x: F.cross_entropy(x.double(), t, label_smoothing=0.1), z, "mean"
    )
    _assert_close_rel(ours[0], ref[0], TOL[dtype])
    _assert_close_rel(ours[1], ref[1], TOL[dtype])


def test_retain_graph_and_noncontiguous_input():
    g = torch.Generator().manual_seed(2)
    base = torch.randn(7, 5, generator=g, dtype=torch.float64, requires_grad=True)
    z = base.t()  # (5, 7): a non-contiguous view, K = 7
    t = torch.tensor([0, 6, 3, -100, 2])
    loss = ls_cross_entropy(z, t, 0.3)
    loss.backward(retain_graph=True)
    loss.backward()
    b2 = base.detach().clone().requires_grad_()
    F.cross_entropy(b2.t(), t, label_smoothing=0.3).backward()
    torch.testing.assert_close(base.grad, 2 * b2.grad)


def test_second_derivatives_through_fast_path():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([1, 0, 3])
    w = torch.tensor([0.5, 1.0, 2.0, 1.5], dtype=torch.float64)
    for weight in (None, w):
        assert torch.autograd.gradcheck(
            lambda x: ls_cross_entropy(x, t, 0.2, weight=weight), (z,)
        )
        assert torch.autograd.gradgradcheck(
            lambda x: ls_cross_entropy(x, t, 0.2, weight=weight), (z,)
        )
    # the Hessian of one row is diag(p) - p p^T, whatever the target and alpha
    x = z[0].detach()
    hess = torch.autograd.functional.hessian(
        lambda v: ls_cross_entropy(v[None], t[:1], 0.7), x
    )
    p = torch.softmax(x, 0)
    torch.testing.assert_close(hess, torch.diag(p) - torch.outer(p, p))


@pytest.mark.filterwarnings(
    "ignore:.*torch.jit.script.*:DeprecationWarning"
)  # raised inside torch.func
def test_torch_func_transforms_use_the_formula():
    g = torch.Generator().manual_seed(4)
    z = torch.randn(5, 6, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 1, 2, 3, 4])
    grad = torch.func.grad(lambda x: ls_cross_entropy(x, t, 0.1))(z)
    zr = z.clone().requires_grad_()
    F.cross_entropy(zr, t, label_smoothing=0.1).backward()
    torch.testing.assert_close(grad, zr.grad)
    hess = torch.func.hessian(lambda x: ls_cross_entropy(x[None], t[:1], 0.1))(z[0])
    p = torch.softmax(z[0], 0)
    torch.testing.assert_close(hess, torch.diag(p) - torch.outer(p, p))


# ---------- memory -------------------------------------------------------------


@pytest.mark.parametrize("k", [10, 2000])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_fast_path_peak_memory_is_one_gradient_buffer(dtype, k):
    """float32 and bfloat16: ls_cross_entropy *is* F.cross_entropy (issue 18: never
    slower under load), so its peak equals PyTorch's. float16 (lsmath's float32 row
    kernels): dL/dz (N x K in the input dtype), float32 chunks of rows and O(N) row
    statistics."""
    n = 512
    g = torch.Generator().manual_seed(5)
    z = torch.randn(n, k, generator=g).to(dtype).requires_grad_()
    t = torch.randint(0, k, (n,), generator=g)
    ours = peak_memory_bytes(lambda: ls_cross_entropy(z, t, 0.1).backward())
    z.grad = None
    theirs = peak_memory_bytes(
        lambda: F.cross_entropy(z, t, label_smoothing=0.1).backward()
    )
    if dtype != torch.float16:
        assert ours == theirs
        return
    grad_bytes = n * k * z.element_size()
    chunk_bytes = 4 * min(n, 2**18 // k) * k
    # float32 work buffers: two chunks of rows (the upcast input and the work)
    assert grad_bytes <= ours <= grad_bytes + 2 * chunk_bytes + 64 * n + 65536
