"""ls_cross_entropy against torch.nn.functional.cross_entropy; ls_gradient against autograd."""

import hashlib
import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import lsmath
from lsmath import ls_cross_entropy, ls_gradient

ALPHAS = [0.0, 0.1, 0.37, 1.0]
REDUCTIONS = ["none", "sum", "mean"]


def _stable_seed(*parts) -> int:
    """A seed from the parameters that is the same in every process (hash() of a str is not)."""
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16) % 1000


def _case(shape, k, *, seed=0, ignore_frac=0.0, ignore_index=-100, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    n, *rest = shape
    logits = torch.randn((n, k, *rest), generator=g, dtype=torch.float64) * 3
    target = torch.randint(0, k, (n, *rest), generator=g)
    if ignore_frac:
        mask = torch.rand(target.shape, generator=g) < ignore_frac
        mask.view(-1)[0] = False  # keep at least one valid element
        target = target.masked_fill(mask, ignore_index)
    return logits.to(dtype), target


@pytest.mark.parametrize(
    "alpha,reduction,shape,use_weight,ignore_frac",
    list(
        itertools.product(
            ALPHAS, REDUCTIONS, [(7,), (3, 4), (2, 3, 2)], [False, True], [0.0, 0.3]
        )
    ),
)
def test_matches_torch_class_indices(alpha, reduction, shape, use_weight, ignore_frac):
    k = 5
    logits, target = _case(
        shape, k, seed=_stable_seed(alpha, reduction, shape), ignore_frac=ignore_frac
    )
    weight = torch.linspace(0.2, 2.0, k, dtype=torch.float64) if use_weight else None
    ours = ls_cross_entropy(logits, target, alpha, weight=weight, reduction=reduction)
    ref = F.cross_entropy(
        logits, target, weight=weight, reduction=reduction, label_smoothing=alpha
    )
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ignore_index", [-100, 0, 3, 17])
def test_custom_ignore_index(ignore_index):
    logits, target = _case((9,), 4, seed=3, ignore_frac=0.4, ignore_index=ignore_index)
    # ignore_index may also be a real class index: those targets are skipped, as in PyTorch
    ours = ls_cross_entropy(logits, target, 0.2, ignore_index=ignore_index)
    ref = F.cross_entropy(
        logits, target, ignore_index=ignore_index, label_smoothing=0.2
    )
    torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize(
    "alpha,reduction,use_weight",
    list(itertools.product(ALPHAS, REDUCTIONS, [False, True])),
)
@pytest.mark.parametrize("shape", [(6,), (2, 3, 2)])
def test_matches_torch_probability_targets(alpha, reduction, use_weight, shape):
    k = 4
    g = torch.Generator().manual_seed(1)
    n, *rest = shape
    logits = torch.randn((n, k, *rest), generator=g, dtype=torch.float64)
    probs = torch.softmax(
        torch.randn((n, k, *rest), generator=g, dtype=torch.float64), dim=1
    )
    weight = (
        torch.rand(k, generator=g, dtype=torch.float64) + 0.5 if use_weight else None
    )
    ours = ls_cross_entropy(logits, probs, alpha, weight=weight, reduction=reduction)
    ref = F.cross_entropy(
        logits, probs, weight=weight, reduction=reduction, label_smoothing=alpha
    )
    torch.testing.assert_close(ours, ref)


def test_unbatched_input():
    z = torch.tensor([1.0, -2.0, 0.5])
    for reduction in REDUCTIONS:
        torch.testing.assert_close(
            ls_cross_entropy(z, torch.tensor(2), 0.3, reduction=reduction),
            F.cross_entropy(
                z, torch.tensor(2), label_smoothing=0.3, reduction=reduction
            ),
        )


def test_all_ignored_mean_is_nan_like_torch():
    z = torch.randn(3, 4)
    t = torch.full((3,), -100)
    ours, ref = ls_cross_entropy(z, t, 0.1), F.cross_entropy(z, t, label_smoothing=0.1)
    assert math.isnan(ours.item()) and math.isnan(ref.item())


@pytest.mark.parametrize(
    "dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64]
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_dtypes(dtype, reduction):
    logits, target = _case((16,), 10, seed=5, dtype=dtype)
    ours = ls_cross_entropy(logits, target, 0.1, reduction=reduction)
    assert ours.dtype == dtype
    ref = F.cross_entropy(
        logits.double(), target, label_smoothing=0.1, reduction=reduction
    )
    tol = {
        torch.float16: 2e-3,
        torch.bfloat16: 1e-2,
        torch.float32: 1e-5,
        torch.float64: 1e-12,
    }[dtype]
    torch.testing.assert_close(ours.double(), ref, rtol=tol, atol=tol)
    # and PyTorch in the same dtype agrees to that dtype's precision
    same = F.cross_entropy(logits, target, label_smoothing=0.1, reduction=reduction)
    torch.testing.assert_close(ours.double(), same.double(), rtol=4 * tol, atol=4 * tol)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_huge_logits_are_finite_and_correct(dtype):
    # logits of size 1e4: a naive exp() overflows; log-softmax must not.
    z = torch.tensor([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]], dtype=dtype)
    t = torch.tensor([0, 2])
    ours = ls_cross_entropy(z, t, 0.1, reduction="none")
    assert torch.isfinite(ours).all()
    ref = F.cross_entropy(z.double(), t, label_smoothing=0.1, reduction="none")
    torch.testing.assert_close(ours.double(), ref, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("alpha", [0.0, 0.2])
@pytest.mark.parametrize("use_weight", [False, True])
def test_autograd_gradient_equals_torch(alpha, use_weight):
    logits, target = _case((5, 3), 6, seed=7, ignore_frac=0.2)
    weight = torch.rand(6, dtype=torch.float64) + 0.1 if use_weight else None
    a = logits.clone().requires_grad_()
    b = logits.clone().requires_grad_()
    ls_cross_entropy(a, target, alpha, weight=weight).backward()
    F.cross_entropy(b, target, weight=weight, label_smoothing=alpha).backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_off_target_convention_maps_through_alpha_from_eps():
    logits, target = _case((8,), 3, seed=2)
    eps = 0.1
    ours = ls_cross_entropy(logits, target, eps, convention="off_target")
    ref = F.cross_entropy(logits, target, label_smoothing=lsmath.alpha_from_eps(eps, 3))
    torch.testing.assert_close(ours, ref)
    # and it is the CE against the target (1 - eps, eps/(K-1), ...)
    y = lsmath.smooth_targets(target, 3, eps, convention="off_target").double()
    assert torch.allclose(
        y.max(dim=1).values, torch.full((8,), 0.9, dtype=torch.float64)
    )
    direct = -(y * torch.log_softmax(logits, 1)).sum(1).mean()
    torch.testing.assert_close(ours, direct)


def test_off_target_beyond_alpha_one():
    # eps close to 1 gives alpha > 1, still a valid distribution; PyTorch cannot express it.
    z, t = _case((4,), 3, seed=4)
    y = lsmath.smooth_targets(t, 3, 0.9, convention="off_target").double()
    direct = -(y * torch.log_softmax(z, 1)).sum(1).mean()
    torch.testing.assert_close(
        ls_cross_entropy(z, t, 0.9, convention="off_target"), direct
    )


# ---------- ls_gradient -------------------------------------------------------


@pytest.mark.parametrize("convention", ["uniform", "off_target"])
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5, 1.0])
def test_ls_gradient_equals_autograd(convention, alpha):
    logits, target = _case((6,), 5, seed=11)
    z = logits.clone().requires_grad_()
    ls_cross_entropy(
        z, target, alpha, convention=convention, reduction="sum"
    ).backward()
    torch.testing.assert_close(ls_gradient(logits, target, alpha, convention), z.grad)


def test_ls_gradient_probability_targets_and_numpy():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 3, generator=g, dtype=torch.float64)
    q = torch.softmax(torch.randn(4, 3, generator=g, dtype=torch.float64), 1)
    zz = z.clone().requires_grad_()
    ls_cross_entropy(zz, q, 0.3, reduction="sum").backward()
    torch.testing.assert_close(ls_gradient(z, q, 0.3), zz.grad)
    out = ls_gradient(z.numpy(), np.array([0, 1, 2, 0]), 0.1)
    assert isinstance(out, np.ndarray) and out.shape == (4, 3)
    np.testing.assert_allclose(out.sum(axis=1), 0.0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(2, 12),
    n=st.integers(1, 6),
    alpha=st.floats(0.0, 1.0),
    scale=st.floats(0.0, 30.0),
    seed=st.integers(0, 2**16),
)
def test_property_loss_never_below_target_entropy(k, n, alpha, scale, seed):
    """CE(y_LS, p) = H(y_LS) + KL(y_LS || p) >= H(y_LS), for every logit vector."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=g, dtype=torch.float64) * scale
    t = torch.randint(0, k, (n,), generator=g)
    y = lsmath.smooth_targets(
        t, k, alpha, dtype=torch.float64
    )  # float32 targets round H
    entropy = -(torch.where(y > 0, y * torch.log(y), torch.zeros_like(y))).sum(1)
    loss = ls_cross_entropy(z, t, alpha, reduction="none")
    assert (loss >= entropy - 1e-9).all()


@settings(max_examples=40, deadline=None)
@given(k=st.integers(2, 10), alpha=st.floats(0.01, 0.99), seed=st.integers(0, 2**16))
def test_property_loss_minimal_at_optimal_logits(k, alpha, seed):
    """Logits with the optimal gap reach the floor H(y_LS); random perturbations do not go lower."""
    gap = lsmath.optimal_logit_gap(alpha, k)
    z_star = torch.zeros(1, k, dtype=torch.float64)
    z_star[0, 0] = gap
    t = torch.tensor([0])
    best = ls_cross_entropy(z_star, t, alpha)
    y = lsmath.smooth_targets(t, k, alpha).double()
    torch.testing.assert_close(best, -(y * torch.log(y)).sum())
    g = torch.Generator().manual_seed(seed)
    others = z_star + 0.3 * torch.randn(16, k, generator=g, dtype=torch.float64)
    losses = ls_cross_entropy(others, t.expand(16), alpha, reduction="none")
    assert (losses >= best - 1e-12).all()
    torch.testing.assert_close(
        ls_gradient(z_star, t, alpha), torch.zeros(1, k, dtype=torch.float64)
    )


# ---------- bad input ---------------------------------------------------------


@pytest.mark.parametrize("alpha", [1.5, float("nan"), float("inf"), float("-inf")])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        ls_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), alpha)
    with pytest.raises(ValueError, match="alpha"):
        ls_gradient(torch.zeros(2, 3), torch.tensor([0, 1]), alpha)


def test_bad_alpha_type():
    with pytest.raises(TypeError, match="alpha"):
        ls_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), "0.1")


@pytest.mark.parametrize("bad", [[0, 3], [-1, 0], [5, 0]])
def test_target_out_of_range(bad):
    with pytest.raises(ValueError, match=r"target values must lie in \[0, K\)"):
        ls_cross_entropy(torch.zeros(2, 3), torch.tensor(bad), 0.1)
    with pytest.raises(ValueError, match="target"):
        ls_gradient(torch.zeros(2, 3), torch.tensor(bad), 0.1)


def test_shape_mismatch():
    with pytest.raises(ValueError, match="target shape"):
        ls_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1, 2]), 0.1)
    with pytest.raises(ValueError, match="same shape as logits"):
        ls_cross_entropy(torch.zeros(2, 3), torch.full((2, 4), 0.25), 0.1)
    with pytest.raises(ValueError, match="batch size"):
        ls_gradient(torch.zeros(2, 3), torch.tensor([0, 1, 2]), 0.1)
    with pytest.raises(ValueError, match="weight"):
        ls_cross_entropy(
            torch.zeros(2, 3), torch.tensor([0, 1]), 0.1, weight=torch.ones(4)
        )


def test_unknown_convention_and_reduction():
    with pytest.raises(ValueError, match="convention"):
        ls_cross_entropy(
            torch.zeros(2, 3), torch.tensor([0, 1]), 0.1, convention="szegedy"
        )
    with pytest.raises(ValueError, match="reduction"):
        ls_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), 0.1, reduction="avg")


def test_single_class_when_smoothing():
    # issue 18: K = 1 with alpha > 0 returns what torch returns (0), not an error
    torch.testing.assert_close(
        ls_cross_entropy(torch.zeros(2, 1), torch.tensor([0, 0]), 0.1),
        F.cross_entropy(torch.zeros(2, 1), torch.tensor([0, 0]), label_smoothing=0.1),
    )
    with pytest.raises(ValueError, match="num_classes"):  # off_target: eps / (K - 1)
        ls_cross_entropy(
            torch.zeros(2, 1), torch.tensor([0, 0]), 0.1, convention="off_target"
        )
    # no smoothing: a single class is a (degenerate) valid input, as in PyTorch
    torch.testing.assert_close(
        ls_cross_entropy(torch.zeros(2, 1), torch.tensor([0, 0])),
        F.cross_entropy(torch.zeros(2, 1), torch.tensor([0, 0])),
    )


def test_type_errors():
    with pytest.raises(TypeError, match="logits"):
        ls_cross_entropy(np.zeros((2, 3)), torch.tensor([0, 1]), 0.1)
    with pytest.raises(TypeError, match="logits"):
        ls_cross_entropy(torch.zeros(2, 3, dtype=torch.long), torch.tensor([0, 1]), 0.1)
    with pytest.raises(TypeError, match="target"):
        ls_cross_entropy(torch.zeros(2, 3), [0, 1], 0.1)
