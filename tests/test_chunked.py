"""ls_linear_cross_entropy: equal to the naive LS cross-entropy of hidden @ weight.T
in the loss and both gradients, without its N x V memory."""

import itertools
import math
import zlib

import pytest
import torch
import torch.nn.functional as F
from reference_losses import (
    reference_ls_cross_entropy,
    reference_ls_linear_cross_entropy,
)

import lsmath
from benchmarks._common import peak_memory_bytes
from lsmath import ls_cross_entropy, ls_linear_cross_entropy
from lsmath._chunked_kernels import default_chunk_size, ls_cross_entropy_rows

REDUCTIONS = ["none", "sum", "mean"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.py


def _problem(
    n=23, d=8, v=97, *, seed=0, ignore_frac=0.25, ignore_index=-100, scale=1.0
):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, d, generator=g, dtype=torch.float64)
    weight = torch.randn(v, d, generator=g, dtype=torch.float64) * scale
    target = torch.randint(0, v, (n,), generator=g)
    if ignore_frac and n:
        mask = torch.rand(n, generator=g) < ignore_frac
        mask[0] = False
        target = target.masked_fill(mask, ignore_index)
    return hidden, weight, target


def _run(fn, hidden, weight, reduction, seed=1):
    """Loss and gradients of a random linear functional of the loss (exercises grad_out)."""
    h = hidden.detach().clone().requires_grad_()
    w = weight.detach().clone().requires_grad_()
    loss = fn(h, w)
    if reduction == "none":
        g = torch.Generator().manual_seed(seed)
        upstream = torch.randn(loss.shape, generator=g, dtype=torch.float64).to(
            loss.dtype
        )
        (loss * upstream).sum().backward()
    else:
        (loss * 1.7).backward()
    return loss.detach(), h.grad, w.grad


@pytest.mark.parametrize(
    "alpha,reduction,chunk",
    list(itertools.product([0.0, 0.1, 1.0], REDUCTIONS, [1, 5, None, 1000])),
)
def test_equals_naive_float64(alpha, reduction, chunk):
    hidden, weight, target = _problem(seed=_stable_seed(alpha, reduction, chunk))
    ours = _run(
        lambda h, w: ls_linear_cross_entropy(
            h, w, target, alpha, chunk_size=chunk, reduction=reduction
        ),
        hidden,
        weight,
        reduction,
    )
    # the references: the plain formula and PyTorch's LS cross-entropy of the
    # full logits
    for reference in (
        lambda h, w: reference_ls_linear_cross_entropy(
            h, w, target, alpha, reduction=reduction
        ),
        lambda h, w: F.cross_entropy(
            h @ w.T, target, label_smoothing=alpha, reduction=reduction
        ),
    ):
        ref = _run(reference, hidden, weight, reduction)
        for a, b in zip(ours, ref):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def _stable_seed(*params) -> int:
    """A seed from the parameters, the same in every process (unlike hash())."""
    return zlib.crc32(repr(params).encode()) % 997


@pytest.mark.parametrize(
    "k,alpha,reduction,use_weight",
    list(itertools.product([3, 40], [0.0, 0.1, -0.2], REDUCTIONS, [False, True])),
)
def test_row_kernel_equals_reference(k, alpha, reduction, use_weight):
    """The (N, K) row kernel (unfused below 16 classes, fused above) in float64."""
    g = torch.Generator().manual_seed(_stable_seed(k, alpha, reduction, use_weight))
    logits = torch.randn(29, k, generator=g, dtype=torch.float64) * 3
    target = torch.randint(0, k, (29,), generator=g)
    target[torch.rand(29, generator=g) < 0.2] = -100
    weight = torch.rand(k, generator=g, dtype=torch.float64) + 0.5
    weight = weight if use_weight else None
    z = logits.clone().requires_grad_()
    ours = ls_cross_entropy_rows(z, target, alpha, weight, -100, reduction)
    (ours * 1.3).sum().backward()
    z_ref = logits.clone().requires_grad_()
    ref = reference_ls_cross_entropy(
        z_ref, target, alpha, weight=weight, reduction=reduction
    )
    (ref * 1.3).sum().backward()
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(z.grad, z_ref.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("k", [3, 40])
def test_row_kernel_low_precision_close_to_reference(dtype, k):
    g = torch.Generator().manual_seed(k)
    logits = (torch.randn(50, k, generator=g) * 2).to(dtype)
    target = torch.randint(0, k, (50,), generator=g)
    z = logits.clone().requires_grad_()
    # The float32 row kernel itself (ls_cross_entropy hands a uniform prior to
    # F.cross_entropy in every dtype; the kernel serves priors and alpha < 0).
    ours = ls_cross_entropy_rows(z, target, 0.1, None, -100, "mean")
    ours.backward()
    z_ref = logits.double().requires_grad_()
    ref = reference_ls_cross_entropy(z_ref, target, 0.1)
    ref.backward()
    assert ours.dtype == dtype
    eps = torch.finfo(dtype).eps
    assert abs(ours.double() - ref).item() <= 2 * eps * ref.item()
    assert (z.grad.double() - z_ref.grad).abs().max().item() <= eps / 25


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_low_precision_close_to_float64(dtype, reduction):
    hidden, weight, target = _problem(n=40, d=16, v=300, seed=3, scale=0.5)
    hidden, weight = (
        hidden.to(dtype).double(),
        weight.to(dtype).double(),
    )  # representable inputs
    ref = _run(
        lambda h, w: F.cross_entropy(
            h @ w.T, target, label_smoothing=0.1, reduction=reduction
        ),
        hidden,
        weight,
        reduction,
    )
    ours = _run(
        lambda h, w: ls_linear_cross_entropy(
            h.to(dtype), w.to(dtype), target, 0.1, chunk_size=7, reduction=reduction
        ),
        hidden,
        weight,
        reduction,
    )
    naive = _run(
        lambda h, w: ls_cross_entropy(
            h.to(dtype) @ w.to(dtype).T, target, 0.1, reduction=reduction
        ),
        hidden,
        weight,
        reduction,
    )
    assert ours[0].dtype == dtype
    for o, n_, r in zip(ours, naive, ref):
        err_ours = (o.double() - r).abs().max().item()
        err_naive = (n_.double() - r).abs().max().item()
        size = r.abs().max().item()
        if dtype == torch.float32:
            assert err_ours <= 1e-5 * size + 1e-6
        else:
            # as accurate as the naive path in the same dtype (it rounds logits alike)
            assert err_ours <= 2 * err_naive + 2e-2 * size


def test_batched_hidden_and_per_row_losses():
    hidden, weight, target = _problem(n=12, seed=4)
    h3, t3 = hidden.reshape(3, 4, -1), target.reshape(3, 4)
    out = ls_linear_cross_entropy(h3, weight, t3, 0.2, reduction="none", chunk_size=5)
    assert out.shape == (3, 4)
    ref = ls_cross_entropy(hidden @ weight.T, target, 0.2, reduction="none").reshape(
        3, 4
    )
    torch.testing.assert_close(out, ref)
    assert (out[t3 == -100] == 0).all()


@pytest.mark.parametrize("eps", [0.05, 0.6])
def test_off_target_convention(eps):
    hidden, weight, target = _problem(seed=5)
    ours = ls_linear_cross_entropy(hidden, weight, target, eps, convention="off_target")
    ref = ls_cross_entropy(hidden @ weight.T, target, eps, convention="off_target")
    torch.testing.assert_close(ours, ref)
    a = lsmath.alpha_from_eps(eps, weight.shape[0])
    torch.testing.assert_close(ours, ls_linear_cross_entropy(hidden, weight, target, a))


@pytest.mark.parametrize("ignore_index", [-100, 0, 5])
def test_custom_ignore_index(ignore_index):
    hidden, weight, target = _problem(
        n=30, v=11, seed=6, ignore_index=ignore_index, ignore_frac=0.4
    )
    ours = _run(
        lambda h, w: ls_linear_cross_entropy(
            h, w, target, 0.3, ignore_index=ignore_index, chunk_size=4
        ),
        hidden,
        weight,
        "mean",
    )
    ref = _run(
        lambda h, w: F.cross_entropy(
            h @ w.T, target, ignore_index=ignore_index, label_smoothing=0.3
        ),
        hidden,
        weight,
        "mean",
    )
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b)


def test_only_one_input_needs_grad():
    hidden, weight, target = _problem(seed=7)
    h = hidden.clone().requires_grad_()
    ls_linear_cross_entropy(h, weight, target, 0.1, chunk_size=6).backward()
    h2 = hidden.clone().requires_grad_()
    ls_cross_entropy(h2 @ weight.T, target, 0.1).backward()
    torch.testing.assert_close(h.grad, h2.grad)
    w = weight.clone().requires_grad_()
    ls_linear_cross_entropy(hidden, w, target, 0.1, chunk_size=6).backward()
    w2 = weight.clone().requires_grad_()
    ls_cross_entropy(hidden @ w2.T, target, 0.1).backward()
    torch.testing.assert_close(w.grad, w2.grad)


def test_all_ignored_and_empty():
    hidden, weight, _ = _problem(n=4, seed=8)
    t = torch.full((4,), -100)
    h = hidden.clone().requires_grad_()
    loss = ls_linear_cross_entropy(h, weight, t, 0.1)
    assert math.isnan(loss.item()) and math.isnan(
        F.cross_entropy(hidden @ weight.T, t, label_smoothing=0.1).item()
    )
    loss.backward()
    assert (h.grad == 0).all()
    assert ls_linear_cross_entropy(h, weight, t, 0.1, reduction="sum").item() == 0.0
    empty = ls_linear_cross_entropy(hidden[:0], weight, t[:0], 0.1, reduction="none")
    assert empty.shape == (0,)
    assert math.isnan(ls_linear_cross_entropy(hidden[:0], weight, t[:0], 0.1).item())


def test_default_chunk_rule():
    # about N * D / V rows: the chunk of logits is no larger than hidden
    assert default_chunk_size(8192, 4096, 128256) == 262
    assert default_chunk_size(10, 64, 10) == 10  # small vocabulary: a single chunk
    assert default_chunk_size(5, 2, 1000) == 5  # at most N
    # at least 256 rows: N * D / V = 33 here, and chunks that small were
    # 1.8x (bfloat16) and 2.0x (float32) slower than the naive path (issue 18)
    assert default_chunk_size(4096, 256, 32000) == 256


def test_memory_scales_with_chunk_not_with_n_times_v():
    """Peak bytes torch allocates during forward + backward (CPU allocator, exact)."""
    d, v, chunk = 16, 3000, 64

    def peaks(n):
        g = torch.Generator().manual_seed(0)
        h = torch.randn(n, d, generator=g, requires_grad=True)
        w = torch.randn(v, d, generator=g, requires_grad=True)
        t = torch.randint(0, v, (n,), generator=g)
        lean = peak_memory_bytes(
            lambda: ls_linear_cross_entropy(h, w, t, 0.1, chunk_size=chunk).backward()
        )
        h.grad = w.grad = None
        naive = peak_memory_bytes(lambda: ls_cross_entropy(h @ w.T, t, 0.1).backward())
        return lean, naive

    lean_small, naive_small = peaks(256)
    lean_big, naive_big = peaks(1024)
    f32 = 4
    assert naive_big >= 1024 * v * f32  # the naive path holds at least the full logits
    # the lean path: gradients (N x D, V x D), one chunk x V buffer and O(N) row statistics
    bound = lambda n: f32 * (n * d + v * d + chunk * v) + 64 * n + 65536  # noqa: E731
    assert lean_small <= bound(256) and lean_big <= bound(1024)
    # growing N by 768 rows adds only the N x D gradient and a few numbers per row
    assert lean_big - lean_small <= 768 * (f32 * d + 64)
    assert naive_big - naive_small >= 768 * v * f32


def test_low_precision_needs_no_v_by_d_float32_accumulator():
    """bfloat16: dL/dW is summed in float32 one block of vocabulary rows at a time."""
    n, d, v, chunk = 64, 64, 4000, 8
    g = torch.Generator().manual_seed(0)
    h = torch.randn(n, d, generator=g).bfloat16().requires_grad_()
    w = torch.randn(v, d, generator=g).bfloat16().requires_grad_()
    t = torch.randint(0, v, (n,), generator=g)
    peak = peak_memory_bytes(
        lambda: ls_linear_cross_entropy(h, w, t, 0.1, chunk_size=chunk).backward()
    )
    grads = 2 * (n * d + v * d)
    assert grads <= peak < grads + (v * d * 4) // 2


# ---------- bad input ---------------------------------------------------------


def _ok():
    return torch.zeros(3, 4), torch.zeros(5, 4), torch.tensor([0, 1, 4])


@pytest.mark.parametrize(
    "alpha", [1.5, float("nan"), float("inf")]
)  # alpha < 0 is allowed
def test_bad_alpha(alpha):
    h, w, t = _ok()
    with pytest.raises(ValueError, match="alpha"):
        ls_linear_cross_entropy(h, w, t, alpha)


def test_bad_alpha_type():
    h, w, t = _ok()
    with pytest.raises(TypeError, match="alpha"):
        ls_linear_cross_entropy(h, w, t, "0.1")


@pytest.mark.parametrize("bad", [[0, 1, 5], [-1, 0, 0], [7, 0, 0]])
def test_target_out_of_range(bad):
    h, w, _ = _ok()
    with pytest.raises(ValueError, match=r"target values must lie in \[0, K\)"):
        ls_linear_cross_entropy(h, w, torch.tensor(bad), 0.1)


def test_shape_and_type_errors():
    h, w, t = _ok()
    with pytest.raises(ValueError, match="target shape"):
        ls_linear_cross_entropy(h, w, t[:2], 0.1)
    with pytest.raises(ValueError, match="weight must have shape"):
        ls_linear_cross_entropy(h, torch.zeros(5, 3), t, 0.1)
    with pytest.raises(ValueError, match="weight must have shape"):
        ls_linear_cross_entropy(h, torch.zeros(5), t, 0.1)
    with pytest.raises(TypeError, match="dtype of hidden"):
        ls_linear_cross_entropy(h, w.double(), t, 0.1)
    with pytest.raises(TypeError, match="floating"):
        ls_linear_cross_entropy(h.long(), w.long(), t, 0.1)
    with pytest.raises(TypeError, match="target"):
        ls_linear_cross_entropy(h, w, t.float(), 0.1)
    with pytest.raises(TypeError, match="hidden"):
        ls_linear_cross_entropy(h.numpy(), w, t, 0.1)
    with pytest.raises(ValueError, match="reduction"):
        ls_linear_cross_entropy(h, w, t, 0.1, reduction="avg")
    with pytest.raises(ValueError, match="convention"):
        ls_linear_cross_entropy(h, w, t, 0.1, convention="szegedy")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="chunk_size"):
            ls_linear_cross_entropy(h, w, t, 0.1, chunk_size=bad)
    # V = 1 with alpha > 0: what F.cross_entropy(label_smoothing=0.1) returns, 0
    one = ls_linear_cross_entropy(
        h, torch.zeros(1, 4), torch.zeros(3, dtype=torch.long), 0.1
    )
    assert float(one) == 0.0
    with pytest.raises(ValueError, match="num_classes"):
        ls_linear_cross_entropy(
            h,
            torch.zeros(1, 4),
            torch.zeros(3, dtype=torch.long),
            0.1,
            convention="off_target",
        )
