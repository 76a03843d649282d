"""Smoothing towards a prior, negative label smoothing, dtype and ignore_index of smooth_targets.

Every value is compared with an independent computation: ``F.cross_entropy``
with the probability target built by hand (``(1 - a) e_t + a * prior``), and
autograd for the gradients.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import lsmath
from lsmath import ls_cross_entropy, ls_gradient, smooth_targets


def _by_hand(target, k, a, prior, dtype=torch.float64):
    onehot = F.one_hot(target, k).to(dtype)
    prior = (
        torch.full((k,), 1.0 / k, dtype=dtype)
        if prior is None
        else torch.as_tensor(prior, dtype=dtype)
    )
    return (1 - a) * onehot + a * prior


def _data(n, k, seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=g, dtype=torch.float64) * 2
    t = torch.randint(0, k, (n,), generator=g)
    prior = torch.rand(k, generator=g, dtype=torch.float64) + 0.05
    return z, t, prior / prior.sum()


# ---------- smooth_targets ----------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.6, 1.0, -0.2, -1.5])
def test_smooth_targets_prior_matches_formula(alpha):
    _, t, prior = _data(7, 5, seed=1)
    y = smooth_targets(t, 5, alpha, prior=prior, dtype=torch.float64)
    torch.testing.assert_close(y, _by_hand(t, 5, alpha, prior), rtol=0, atol=1e-15)
    torch.testing.assert_close(y.sum(-1), torch.ones(7, dtype=torch.float64))


def test_smooth_targets_prior_accepts_sequences_and_arrays():
    t = torch.tensor([1])
    for prior in (
        [0.5, 0.25, 0.25],
        np.array([0.5, 0.25, 0.25]),
        torch.tensor([0.5, 0.25, 0.25]),
    ):
        torch.testing.assert_close(
            smooth_targets(t, 3, 0.2, prior=prior), torch.tensor([[0.1, 0.85, 0.05]])
        )


def test_uniform_prior_equals_default():
    t = torch.tensor([0, 2, 1])
    torch.testing.assert_close(
        smooth_targets(t, 3, 0.3, prior=[1 / 3] * 3), smooth_targets(t, 3, 0.3)
    )


@pytest.mark.parametrize(
    "prior,match",
    [
        ([0.5, 0.5], "shape"),
        ([0.7, 0.7, -0.4], "nonnegative"),
        ([0.2, 0.2, 0.2], "sum to 1"),
        ([float("nan"), 0.5, 0.5], "finite"),
    ],
)
def test_bad_prior(prior, match):
    with pytest.raises(ValueError, match=f"prior.*{match}|{match}.*prior|prior must"):
        smooth_targets(torch.tensor([0]), 3, 0.1, prior=prior)
    with pytest.raises(ValueError, match="prior"):
        ls_cross_entropy(torch.zeros(1, 3), torch.tensor([0]), 0.1, prior=prior)


def test_smooth_targets_dtype():
    t = torch.tensor([0, 1])
    assert smooth_targets(t, 3, 0.1).dtype == torch.get_default_dtype()
    y64 = smooth_targets(t, 3, 0.1, dtype=torch.float64)
    assert y64.dtype == torch.float64
    assert float(y64[0, 0]) == 1 - 0.1 + 0.1 / 3
    assert smooth_targets(t, 3, 0.1, dtype=torch.bfloat16).dtype == torch.bfloat16
    with pytest.raises(TypeError, match="dtype"):
        smooth_targets(t, 3, 0.1, dtype=torch.int64)


def test_smooth_targets_ignore_index_rows_are_zero():
    t = torch.tensor([0, -100, 2, 7])
    y = smooth_targets(torch.tensor([0, -100, 2]), 3, 0.1, ignore_index=-100)
    torch.testing.assert_close(y[1], torch.zeros(3))
    torch.testing.assert_close(y[[0, 2]], smooth_targets(torch.tensor([0, 2]), 3, 0.1))
    with pytest.raises(ValueError, match="target values"):
        smooth_targets(t, 3, 0.1, ignore_index=-100)  # 7 is out of range
    with pytest.raises(TypeError, match="ignore_index"):
        smooth_targets(t, 3, 0.1, ignore_index=1.5)


# ---------- ls_cross_entropy with a prior -------------------------------------


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("alpha", [0.0, 0.15, 1.0, -0.3])
def test_prior_loss_matches_torch_soft_target(alpha, reduction):
    z, t, prior = _data(9, 6, seed=2)
    y = _by_hand(t, 6, alpha, prior)
    ours = ls_cross_entropy(z, t, alpha, prior=prior, reduction=reduction)
    ref = F.cross_entropy(z, y, reduction=reduction)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_prior_loss_with_weight_and_ignore_index(reduction):
    """Per element: PyTorch's soft-target loss with class weights, ``-sum_k w_k y_k log p_k``.

    Ignored elements give 0; ``"mean"`` divides by ``sum_n w[t_n]`` over kept
    elements (PyTorch's class-index normalisation, so a uniform prior gives
    ``F.cross_entropy(label_smoothing=alpha)``).
    """
    z, t, prior = _data(10, 4, seed=3)
    t[[1, 6]] = -100
    w = torch.tensor([0.5, 2.0, 1.0, 0.25], dtype=torch.float64)
    keep = t != -100
    y = _by_hand(t[keep], 4, 0.2, prior)
    per = F.cross_entropy(z[keep], y, weight=w, reduction="none")
    ours = ls_cross_entropy(z, t, 0.2, prior=prior, weight=w, reduction=reduction)
    if reduction == "none":
        torch.testing.assert_close(ours[keep], per)
        assert (ours[~keep] == 0).all()
    elif reduction == "sum":
        torch.testing.assert_close(ours, per.sum())
    else:
        torch.testing.assert_close(ours, per.sum() / w[t[keep]].sum())


@pytest.mark.parametrize("use_weight", [False, True])
def test_uniform_prior_equals_label_smoothing(use_weight):
    z, t, _ = _data(8, 5, seed=4)
    t[2] = -100
    w = torch.linspace(0.3, 1.7, 5, dtype=torch.float64) if use_weight else None
    uniform = torch.full((5,), 0.2, dtype=torch.float64)
    ours = ls_cross_entropy(z, t, 0.3, weight=w, prior=uniform)
    ref = F.cross_entropy(z, t, weight=w, label_smoothing=0.3)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        ls_cross_entropy(z, t, 0.3, weight=w), ref, rtol=1e-12, atol=1e-12
    )


def test_prior_with_probability_target_and_spatial_input():
    g = torch.Generator().manual_seed(5)
    z = torch.randn(3, 4, 2, 2, generator=g, dtype=torch.float64)
    q = torch.softmax(torch.randn(3, 4, 2, 2, generator=g, dtype=torch.float64), 1)
    prior = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)
    y = 0.75 * q + 0.25 * prior.view(1, 4, 1, 1)
    torch.testing.assert_close(
        ls_cross_entropy(z, q, 0.25, prior=prior), F.cross_entropy(z, y)
    )
    t = torch.randint(0, 4, (3, 2, 2), generator=g)
    y = 0.75 * F.one_hot(t, 4).permute(0, 3, 1, 2).double() + 0.25 * prior.view(
        1, 4, 1, 1
    )
    torch.testing.assert_close(
        ls_cross_entropy(z, t, 0.25, prior=prior), F.cross_entropy(z, y)
    )


def test_prior_gradient_matches_autograd():
    z, t, prior = _data(6, 5, seed=6)
    for alpha in (0.2, -0.4):
        zz = z.clone().requires_grad_(True)
        ls_cross_entropy(zz, t, alpha, prior=prior, reduction="sum").backward()
        torch.testing.assert_close(ls_gradient(z, t, alpha, prior=prior), zz.grad)


# ---------- negative label smoothing ------------------------------------------


@pytest.mark.parametrize("alpha", [-0.1, -0.5, -2.0])
@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("use_weight", [False, True])
def test_negative_alpha_matches_hand_built_target(alpha, reduction, use_weight):
    z, t, _ = _data(12, 7, seed=7)
    w = torch.linspace(0.5, 1.5, 7, dtype=torch.float64) if use_weight else None
    y = _by_hand(t, 7, alpha, None)
    per = F.cross_entropy(z, y, weight=w, reduction="none")
    ref = per if reduction == "none" else per.sum() / (12 if w is None else w[t].sum())
    ours = ls_cross_entropy(z, t, alpha, weight=w, reduction=reduction)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("alpha", [-0.1, -1.0])
def test_negative_alpha_gradient_matches_autograd(alpha):
    """Row kernel (float32, fast path) and plain formula (float64).

    Both are checked against autograd of the hand formula.
    """
    for dtype in (torch.float64, torch.float32):
        z, t, _ = _data(16, 40, seed=8)
        z = z.to(dtype)
        zz = z.clone().requires_grad_(True)
        ls_cross_entropy(zz, t, alpha, reduction="sum").backward()
        z_ref = z.clone().requires_grad_(True)
        y = _by_hand(t, 40, alpha, None, dtype)
        (-(y * torch.log_softmax(z_ref, 1)).sum()).backward()
        tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else {}
        torch.testing.assert_close(zz.grad, z_ref.grad, **tol)
        torch.testing.assert_close(ls_gradient(z, t, alpha), z_ref.grad, **tol)


def test_negative_alpha_off_target_and_linear_head():
    z, t, _ = _data(5, 4, seed=9)
    a = lsmath.alpha_from_eps(0.0, 4) - 0.2 * 4 / 3  # eps = -0.2
    torch.testing.assert_close(
        ls_cross_entropy(z, t, -0.2, convention="off_target"),
        F.cross_entropy(z, _by_hand(t, 4, a, None)),
    )
    g = torch.Generator().manual_seed(0)
    h, W = (
        torch.randn(6, 3, generator=g, dtype=torch.float64),
        torch.randn(9, 3, generator=g, dtype=torch.float64),
    )
    tt = torch.randint(0, 9, (6,), generator=g)
    torch.testing.assert_close(
        lsmath.ls_linear_cross_entropy(h, W, tt, -0.3, chunk_size=2),
        ls_cross_entropy(h @ W.T, tt, -0.3),
    )


def test_negative_alpha_closed_forms_raise():
    for f in (lsmath.optimal_logit_gap, lsmath.stationary_logits):
        with pytest.raises(ValueError, match="no finite minimiser"):
            f(-0.1, 3)
    with pytest.raises(ValueError, match="negative label smoothing"):
        lsmath.lipschitz_constant(-0.1, 3)


def test_negative_alpha_loss_unbounded_below():
    """Along the direction of a growing true logit, the loss decreases without bound."""
    t = torch.tensor([0])
    losses = [
        float(
            ls_cross_entropy(
                torch.tensor([[g, 0.0, 0.0]], dtype=torch.float64), t, -0.1
            )
        )
        for g in (10.0, 100.0, 1000.0)
    ]
    assert losses[0] > losses[1] > losses[2] and losses[2] < -10


@pytest.mark.parametrize("alpha", [float("inf"), float("-inf"), float("nan"), 1.01])
def test_alpha_out_of_range(alpha):
    for call in (
        lambda: smooth_targets(torch.tensor([0]), 3, alpha),
        lambda: ls_cross_entropy(torch.zeros(1, 3), torch.tensor([0]), alpha),
        lambda: ls_gradient(torch.zeros(1, 3), torch.tensor([0]), alpha),
    ):
        with pytest.raises(ValueError, match="alpha"):
            call()


@settings(max_examples=60, deadline=None)
@given(
    alpha=st.floats(-3.0, 1.0),
    k=st.integers(2, 9),
    n=st.integers(1, 6),
    seed=st.integers(0, 10_000),
    reduction=st.sampled_from(["none", "sum", "mean"]),
)
def test_property_prior_and_sign(alpha, k, n, seed, reduction):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=g, dtype=torch.float64) * 3
    t = torch.randint(0, k, (n,), generator=g)
    prior = torch.softmax(torch.randn(k, generator=g, dtype=torch.float64), 0)
    y = smooth_targets(t, k, alpha, prior=prior, dtype=torch.float64)
    assert torch.allclose(y.sum(-1), torch.ones(n, dtype=torch.float64))
    ours = ls_cross_entropy(z, t, alpha, prior=prior, reduction=reduction)
    torch.testing.assert_close(
        ours, F.cross_entropy(z, y, reduction=reduction), rtol=1e-10, atol=1e-10
    )
    # dL/dz = p - y for every target that sums to 1
    zz = z.clone().requires_grad_(True)
    ls_cross_entropy(zz, t, alpha, prior=prior, reduction="sum").backward()
    torch.testing.assert_close(zz.grad, torch.softmax(z, 1) - y, rtol=1e-10, atol=1e-10)
    assert math.isfinite(float(ours.sum()))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_single_class_matches_torch(alpha):
    """K = 1 with alpha > 0: torch returns 0 (log p = 0); so does lsmath."""
    z = torch.randn(4, 1, dtype=torch.float64)
    t = torch.zeros(4, dtype=torch.long)
    ref = F.cross_entropy(z, t, label_smoothing=alpha)
    torch.testing.assert_close(ls_cross_entropy(z, t, alpha), ref)
    torch.testing.assert_close(ls_cross_entropy(z.float(), t, alpha), ref.float())
