"""Tests of lsmath.distillation against independent computations.

* the loss against ``torch.nn.functional.kl_div(..., log_target=True)`` and a
  NumPy implementation written from the formula;
* the gradient against autograd, finite differences and the closed form
  ``T * (q_s - q_t)``;
* the hard-label mixture, the reductions, dtypes, and every bad-input error.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import lsmath
from lsmath import distillation_gradient, distillation_loss


def _np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _np_kd(s: np.ndarray, t: np.ndarray, T: float) -> np.ndarray:
    """Per-sample T^2 KL(q_t || q_s) in float64 NumPy, from the definition."""
    qs, qt = _np_softmax(s / T), _np_softmax(t / T)
    return T**2 * np.sum(qt * (np.log(qt) - np.log(qs)), axis=-1)


def _pair(n=6, k=5, seed=0, scale=3.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n, k, generator=g, dtype=dtype) * scale
    t = torch.randn(n, k, generator=g, dtype=dtype) * scale
    return s, t


def test_exported():
    assert "distillation_loss" in lsmath.__all__
    assert lsmath.distillation_loss is distillation_loss


@pytest.mark.parametrize("T", [0.5, 1.0, 2.0, 4.0, 8.0, 20.0])
def test_matches_torch_kl_div(T):
    s, t = _pair(n=8, k=7, seed=1)
    ref = T**2 * F.kl_div(
        F.log_softmax(s / T, 1),
        F.log_softmax(t / T, 1),
        log_target=True,
        reduction="batchmean",
    )
    assert torch.allclose(distillation_loss(s, t, T), ref, rtol=1e-12, atol=1e-14)
    ref_sum = T**2 * F.kl_div(
        F.log_softmax(s / T, 1),
        F.log_softmax(t / T, 1),
        log_target=True,
        reduction="sum",
    )
    assert torch.allclose(
        distillation_loss(s, t, T, reduction="sum"), ref_sum, rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("T", [0.3, 1.0, 3.0, 10.0])
def test_matches_numpy(T):
    s, t = _pair(n=5, k=4, seed=2)
    ref = _np_kd(s.numpy(), t.numpy(), T)
    got = distillation_loss(s, t, T, reduction="none").numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-13)
    assert math.isclose(
        distillation_loss(s, t, T).item(), ref.mean(), rel_tol=1e-10, abs_tol=1e-13
    )


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 6),
    k=st.integers(2, 12),
    T=st.floats(0.2, 30.0),
    scale=st.floats(0.0, 8.0),
    seed=st.integers(0, 10_000),
)
def test_property_numpy_nonnegative(n, k, T, scale, seed):
    s, t = _pair(n=n, k=k, seed=seed, scale=scale)
    got = distillation_loss(s, t, T, reduction="none")
    ref = _np_kd(s.numpy(), t.numpy(), T)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-8, atol=1e-10)
    assert (got >= -1e-12).all()
    # KL is zero for identical logits and invariant to adding a constant per row
    assert distillation_loss(s, s, T).abs().item() < 1e-12
    shift = torch.randn(n, 1, dtype=s.dtype)
    assert torch.allclose(
        distillation_loss(s + shift, t - shift, T, reduction="none"), got, atol=1e-9
    )


@pytest.mark.parametrize("T", [0.5, 1.0, 4.0, 16.0])
def test_gradient_autograd_and_closed_form(T):
    s, t = _pair(n=4, k=6, seed=3)
    s = s.clone().requires_grad_(True)
    distillation_loss(s, t, T).backward()
    closed = distillation_gradient(s.detach(), t, T) / s.shape[0]
    assert torch.allclose(s.grad, closed, atol=1e-12)
    # unreduced sum: the per-sample gradient itself
    s2 = s.detach().clone().requires_grad_(True)
    distillation_loss(s2, t, T, reduction="sum").backward()
    assert torch.allclose(
        s2.grad,
        T * (torch.softmax(s2.detach() / T, 1) - torch.softmax(t / T, 1)),
        atol=1e-12,
    )


def test_gradient_finite_differences():
    s, t = _pair(n=3, k=5, seed=4, dtype=torch.float64)
    T = 2.5

    def f(x):
        return distillation_loss(x, t, T)

    assert torch.autograd.gradcheck(f, (s.clone().requires_grad_(True),))
    assert torch.autograd.gradgradcheck(f, (s.clone().requires_grad_(True),))
    # and by hand, central differences on one coordinate against the closed form
    h = 1e-6
    e = torch.zeros_like(s)
    e[1, 2] = h
    fd = (f(s + e) - f(s - e)).item() / (2 * h)
    assert math.isclose(
        fd, distillation_gradient(s, t, T)[1, 2].item() / 3, rel_tol=1e-6, abs_tol=1e-9
    )


def test_gradient_numpy_input():
    s, t = _pair(n=2, k=3, seed=5)
    g = distillation_gradient(s.numpy(), t.numpy(), 3.0)
    assert isinstance(g, np.ndarray)
    np.testing.assert_allclose(
        g, 3.0 * (_np_softmax(s.numpy() / 3) - _np_softmax(t.numpy() / 3)), atol=1e-12
    )
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-12)


def test_teacher_gradient_flows_unless_detached():
    s, t = _pair(n=2, k=3, seed=6)
    t = t.clone().requires_grad_(True)
    distillation_loss(s, t, 2.0).backward()
    assert t.grad is not None and t.grad.abs().sum() > 0
    s2 = s.clone().requires_grad_(True)
    distillation_loss(s2, t.detach(), 2.0).backward()
    assert s2.grad is not None


@pytest.mark.parametrize("w", [0.25, 0.5, 1.0])
def test_hard_label_mixture(w):
    s, t = _pair(n=6, k=4, seed=7)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    T = 3.0
    kd = T**2 * F.kl_div(
        F.log_softmax(s / T, 1),
        F.log_softmax(t / T, 1),
        log_target=True,
        reduction="batchmean",
    )
    ce = F.cross_entropy(s, y)
    got = distillation_loss(s, t, T, target=y, hard_weight=w)
    assert torch.allclose(got, (1 - w) * kd + w * ce, atol=1e-12)
    none = distillation_loss(s, t, T, target=y, hard_weight=w, reduction="none")
    assert none.shape == (6,) and torch.allclose(none.mean(), got, atol=1e-12)


def test_hard_label_probability_target():
    s, t = _pair(n=3, k=4, seed=8)
    y = torch.softmax(torch.randn(3, 4, dtype=torch.float64), 1)
    got = distillation_loss(s, t, 1.0, target=y, hard_weight=0.5)
    ce = -(y * F.log_softmax(s, 1)).sum(1).mean()
    assert torch.allclose(
        got, 0.5 * distillation_loss(s, t, 1.0) + 0.5 * ce, atol=1e-12
    )


def test_uniform_teacher_is_label_smoothing():
    """CE(y_LS, p) = (1 - a) CE(e_t, p) + a (KD_1(z, const) + log K)  (chapter 6)."""
    s, _ = _pair(n=5, k=6, seed=9)
    y = torch.tensor([0, 5, 2, 3, 1])
    a = 0.2
    uniform_teacher = torch.zeros_like(s)
    ls = lsmath.ls_cross_entropy(s, y, a)
    kd = distillation_loss(s, uniform_teacher, 1.0, target=y, hard_weight=1 - a)
    assert torch.allclose(ls, kd + a * math.log(6), atol=1e-12)


def test_unbatched_and_dtypes():
    s, t = _pair(n=1, k=3, seed=10)
    one = distillation_loss(s[0], t[0], 2.0)
    assert one.dim() == 0 and torch.allclose(one, distillation_loss(s, t, 2.0))
    assert distillation_loss(s[0], t[0], 2.0, reduction="none").dim() == 0
    y = distillation_loss(s[0], t[0], 2.0, target=torch.tensor(1), hard_weight=0.3)
    assert torch.allclose(
        y, distillation_loss(s, t, 2.0, target=torch.tensor([1]), hard_weight=0.3)
    )
    for dt in (torch.float32, torch.float16, torch.bfloat16):
        out = distillation_loss(s.to(dt), t.to(dt), 2.0)
        assert out.dtype == dt
        assert math.isclose(
            out.item(), distillation_loss(s, t, 2.0).item(), rel_tol=2e-2, abs_tol=2e-3
        )
    # numpy scalar temperature, integer temperature
    assert torch.allclose(
        distillation_loss(s, t, np.float32(2.0)), distillation_loss(s, t, 2)
    )


def test_large_logits_stable():
    s = torch.tensor([[1000.0, 0.0, -1000.0]], dtype=torch.float64)
    t = torch.tensor([[-1000.0, 0.0, 1000.0]], dtype=torch.float64)
    out = distillation_loss(s, t, 1.0)
    assert torch.isfinite(out) and math.isclose(out.item(), 2000.0, rel_tol=1e-9)


@pytest.mark.parametrize("T", [0.0, -1.0, float("nan"), float("inf"), -float("inf")])
def test_bad_temperature_value(T):
    s, t = _pair()
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(s, t, T)
    with pytest.raises(ValueError, match="temperature"):
        distillation_gradient(s, t, T)


@pytest.mark.parametrize("T", ["2", None, True, torch.tensor([1.0, 2.0])])
def test_bad_temperature_type(T):
    s, t = _pair()
    with pytest.raises(TypeError, match="temperature"):
        distillation_loss(s, t, T)


def test_shape_mismatch_and_bad_logits():
    s, t = _pair(n=4, k=5)
    with pytest.raises(ValueError, match="same shape"):
        distillation_loss(s, t[:, :4], 1.0)
    with pytest.raises(ValueError, match="same shape"):
        distillation_loss(s, t[:3], 1.0)
    with pytest.raises(ValueError, match="shape"):
        distillation_loss(s.reshape(2, 2, 5), t.reshape(2, 2, 5), 1.0)
    with pytest.raises(ValueError, match="K = 2"):
        distillation_loss(s[:, :1], t[:, :1], 1.0)
    with pytest.raises(TypeError, match="student_logits"):
        distillation_loss(s.numpy(), t, 1.0)
    with pytest.raises(TypeError, match="teacher_logits"):
        distillation_loss(s, t.long(), 1.0)
    bad = s.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="student_logits must be finite"):
        distillation_loss(bad, t, 1.0)
    bad = t.clone()
    bad[1, 1] = float("inf")
    with pytest.raises(ValueError, match="teacher_logits must be finite"):
        distillation_loss(s, bad, 1.0)
    with pytest.raises(ValueError, match="reduction"):
        distillation_loss(s, t, 1.0, reduction="batchmean")


def test_hard_weight_and_target_errors():
    s, t = _pair(n=4, k=5)
    y = torch.tensor([0, 1, 2, 3])
    for w in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="hard_weight"):
            distillation_loss(s, t, 1.0, target=y, hard_weight=w)
    with pytest.raises(TypeError, match="hard_weight"):
        distillation_loss(s, t, 1.0, target=y, hard_weight="0.5")
    with pytest.raises(ValueError, match="needs a target"):
        distillation_loss(s, t, 1.0, hard_weight=0.5)
    with pytest.raises(ValueError, match="hard_weight=0 ignores it"):
        distillation_loss(s, t, 1.0, target=y)
    with pytest.raises(ValueError, match=r"target must have shape \(N,\)"):
        distillation_loss(s, t, 1.0, target=y[:3], hard_weight=0.5)
    with pytest.raises(ValueError, match=r"\[0, K\)"):
        distillation_loss(s, t, 1.0, target=torch.tensor([0, 1, 2, 5]), hard_weight=0.5)
    with pytest.raises(TypeError, match="target"):
        distillation_loss(s, t, 1.0, target=[0, 1, 2, 3], hard_weight=0.5)


# --- StackedMLP / train_stacked: many small networks trained at once ---------

from lsmath.distillation import StackedMLP, train_stacked  # noqa: E402


def test_stacked_member_matches_sequential():
    net = StackedMLP([5, 7, 6, 3], seeds=[0, 1, 2])
    x = torch.randn(4, 5)
    out = net(x)
    assert out.shape == (3, 4, 3)
    for m in range(3):
        seq = net.member(m)
        assert torch.allclose(out[m], seq(x), atol=1e-6)
        assert torch.allclose(net.hidden(x)[m], seq[:-1](x), atol=1e-6)
    # a member's initialisation depends on its own seed only
    alone = StackedMLP([5, 7, 6, 3], seeds=[2])
    assert torch.equal(alone.weights[0][0], net.weights[0][2])
    assert not torch.equal(net.weights[0][0], net.weights[0][1])


def test_stacked_bad_input():
    with pytest.raises(ValueError, match="sizes"):
        StackedMLP([5], seeds=[0])
    with pytest.raises(ValueError, match="seeds"):
        StackedMLP([5, 3], seeds=[])
    net = StackedMLP([5, 3], seeds=[0, 1])
    with pytest.raises(ValueError, match="input must have shape"):
        net(torch.randn(4, 6))
    with pytest.raises(ValueError, match="penultimate"):
        net.hidden(torch.randn(4, 5))
    with pytest.raises(ValueError, match="one seed per member"):
        train_stacked(
            net,
            torch.randn(8, 5),
            lambda z, i: z.sum((1, 2)),
            epochs=1,
            batch_size=4,
            seeds=[0],
        )


def test_train_stacked_equals_training_members_alone():
    torch.manual_seed(0)
    x = torch.randn(40, 5)
    y = torch.randint(0, 3, (40,))
    teacher = torch.randn(40, 3)
    temps = [1.0, 4.0]

    def loss_fn(net_temps):
        def f(z, idx):
            return torch.stack(
                [
                    distillation_loss(
                        z[m], teacher[idx[m]], t, target=y[idx[m]], hard_weight=0.3
                    )
                    for m, t in enumerate(net_temps)
                ]
            )

        return f

    both = StackedMLP([5, 8, 3], seeds=[3, 4])
    hist = train_stacked(
        both, x, loss_fn(temps), epochs=3, batch_size=16, seeds=[10, 11]
    )
    assert len(hist) == 3 and all(math.isfinite(h) for h in hist)
    for m, (seed, data_seed) in enumerate([(3, 10), (4, 11)]):
        alone = StackedMLP([5, 8, 3], seeds=[seed])
        train_stacked(
            alone, x, loss_fn([temps[m]]), epochs=3, batch_size=16, seeds=[data_seed]
        )
        assert torch.allclose(alone(x)[0], both(x)[m], atol=1e-5)


# ---------------------------------------------------------------------------
# Erasure statistics (chapter 6) against loops written from the definitions.
# ---------------------------------------------------------------------------


def _erasure_data(n_per_class=7, k=4, seed=3):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(k).repeat(n_per_class)
    z = 2.0 * torch.randn(len(y), k, generator=g, dtype=torch.float64)
    return z, y


def _np_profiles(z, y):
    d, g = [], []
    for row, t in zip(z, y):
        wrong = [row[j] for j in range(len(row)) if j != t]
        m = sum(wrong) / len(wrong)
        d.append([w - m for w in wrong])
        g.append(row[t] - m)
    return np.array(d), np.array(g)


def test_wrong_class_profiles_against_loop():
    z, y = _erasure_data()
    out = lsmath.distillation.wrong_class_profiles(z, y)
    d, g = _np_profiles(z.numpy(), y.numpy())
    np.testing.assert_allclose(out.profiles.numpy(), d, atol=1e-12)
    np.testing.assert_allclose(out.gaps.numpy(), g, atol=1e-12)
    np.testing.assert_allclose(out.profiles.sum(1).numpy(), 0.0, atol=1e-12)
    # Invariant to adding a constant per row.
    shifted = lsmath.distillation.wrong_class_profiles(z + 5.0, y)
    assert torch.allclose(shifted.profiles, out.profiles, atol=1e-12)


def test_class_residuals_against_loop():
    z, y = _erasure_data()
    d, _ = _np_profiles(z.numpy(), y.numpy())
    out = lsmath.distillation.class_residuals(torch.from_numpy(d), y, 4)
    for c in range(4):
        mean_c = d[y.numpy() == c].mean(axis=0)
        np.testing.assert_allclose(out.class_means[c].numpy(), mean_c, atol=1e-12)
        np.testing.assert_allclose(
            out.residuals[y == c].numpy(), d[y.numpy() == c] - mean_c, atol=1e-12
        )


def test_erasure_statistics_against_loop():
    z, y = _erasure_data()
    T = 3.0
    s = lsmath.distillation.erasure_statistics(z, y, temperature=T)
    zn, yn = z.numpy(), y.numpy()
    d, g = _np_profiles(zn, yn)
    q = _np_softmax(zn / T)
    var, b, w = [], [], []
    for c in range(4):
        rows = yn == c
        nontarget = np.delete(q[rows], c, axis=1)
        var.append(nontarget.var(axis=0, ddof=1).sum())
        mean_c = d[rows].mean(axis=0)
        b.append((mean_c**2).sum())
        w.append(((d[rows] - mean_c) ** 2).sum(axis=1).mean())
    g2 = g.mean() ** 2
    assert math.isclose(s.nontarget_variance, np.mean(var), rel_tol=1e-10)
    assert math.isclose(s.class_level, np.mean(b) / g2, rel_tol=1e-10)
    assert math.isclose(s.input_level, np.mean(w) / g2, rel_tol=1e-10)
    # B and W do not change when the logits are rescaled; the variance does.
    s2 = lsmath.distillation.erasure_statistics(0.3 * z, y, temperature=T)
    assert math.isclose(s2.class_level, s.class_level, rel_tol=1e-10)
    assert math.isclose(s2.input_level, s.input_level, rel_tol=1e-10)
    assert not math.isclose(s2.nontarget_variance, s.nontarget_variance, rel_tol=1e-3)


def test_residual_correlation_and_logit_scale():
    z, y = _erasure_data()
    a, b = z[:, :3], z[:, 1:]
    an, bn = a.numpy().ravel(), b.numpy().ravel()
    ref = an @ bn / np.sqrt((an @ an) * (bn @ bn))
    assert math.isclose(
        lsmath.distillation.residual_correlation(a, b), ref, rel_tol=1e-12
    )
    zn = z.numpy()
    centred = zn - zn.mean(axis=1, keepdims=True)
    assert math.isclose(
        lsmath.distillation.logit_scale(z), np.sqrt((centred**2).mean()), rel_tol=1e-12
    )
    assert math.isclose(
        lsmath.distillation.logit_scale(2 * z + 1),
        2 * np.sqrt((centred**2).mean()),
        rel_tol=1e-12,
    )


def test_erasure_helpers_reject_bad_input():
    z, y = _erasure_data()
    D = lsmath.distillation
    with pytest.raises(TypeError, match="labels"):
        D.wrong_class_profiles(z, y.double())
    with pytest.raises(ValueError, match="labels"):
        D.wrong_class_profiles(z, y[:-1])
    with pytest.raises(ValueError, match="labels"):
        D.wrong_class_profiles(z, y + 4)
    with pytest.raises(ValueError, match="every class"):
        D.class_residuals(z[:, :3], torch.zeros(len(y), dtype=torch.long), 2)
    with pytest.raises(ValueError, match="at least twice"):
        D.erasure_statistics(z[:5], y[:5])
    with pytest.raises(ValueError, match="same shape"):
        D.residual_correlation(z, z[:, :2])
    with pytest.raises(ValueError, match="temperature"):
        D.erasure_statistics(z, y, temperature=0.0)
