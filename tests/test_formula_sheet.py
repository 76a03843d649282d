"""The formula sheet (chapters/formula_sheet.md).

First: each off-target entry equals its uniform twin after alpha = eps K / (K - 1),
for general K (SymPy). Second: each uniform entry and each chapter-7 row recomputed
from its definition (autograd, optimisation, brute force over the simplex)."""

import numpy as np
import pytest
import sympy as sp

import lsmath
from lsmath import symbolic as S
from lsmath.minimize import lbfgs_minimize

eps, K, n = sp.symbols("epsilon K n", positive=True)
ALPHA = eps * K / (K - 1)


def same(a, b):
    diff = a - b
    return sp.simplify(diff) == 0 or sp.simplify(sp.expand_log(diff, force=True)) == 0


def test_targets_and_their_difference():
    y_t, y_o = S.smoothed_target(ALPHA, K, "uniform")
    assert same(y_t, 1 - eps) and same(y_o, eps / (K - 1))
    assert same(y_t - y_o, 1 - eps * K / (K - 1))


def test_loss_weights():
    # (1 - a)(-log p_t) + a/K sum(-log p_k): weight on -log p_t alone and on the sum
    assert same(1 - ALPHA, 1 - eps * K / (K - 1))
    assert same(ALPHA / K, eps / (K - 1))


def test_floor_entropy():
    y_t, y_o = S.smoothed_target(ALPHA, K, "uniform")
    h_uniform = -y_t * sp.log(y_t) - (K - 1) * y_o * sp.log(y_o)
    h_off = -(1 - eps) * sp.log(1 - eps) - eps * sp.log(eps / (K - 1))
    assert same(h_uniform, h_off)


def test_gradient_at_one_hot_norm():
    # both sides are positive: compare their squares
    assert same((ALPHA * sp.sqrt(1 - 1 / K)) ** 2, (eps * sp.sqrt(K / (K - 1))) ** 2)


def test_lipschitz_off_target_closed_form():
    a = sp.symbols("alpha", positive=True)
    uniform = 2 * (1 - a) + (1 - 1 / K) * a**2
    off = 2 - K / (K - 1) * (2 * eps - eps**2)
    assert same(uniform.subs(a, ALPHA), off)
    # valid while the true class keeps the most mass, eps <= (K - 1)/K
    for k, e in [(3, 0.1), (10, 0.3), (2, 0.5)]:
        assert np.isclose(
            lsmath.lipschitz_constant(e, k, "off_target"),
            float(sp.sqrt(off.subs({K: k, eps: e}))),
        )


@pytest.mark.parametrize("k,e", [(3, 0.1), (10, 0.05), (1000, 0.2)])
def test_optimal_gap_off_target(k, e):
    assert np.isclose(
        lsmath.optimal_logit_gap(e, k, "off_target"), np.log((k - 1) * (1 - e) / e)
    )
    a = lsmath.alpha_from_eps(e, k)
    assert np.isclose(lsmath.optimal_logit_gap(a, k), np.log(1 + k * (1 - a) / a))


# ---------------------------------------------------------------------------
# Independent checks of the uniform column and of the chapter-7 rows: each entry
# recomputed from its definition (PyTorch autograd, optimisation, brute force over
# the simplex), not from the sheet's own algebra (issue 14 audit).
# ---------------------------------------------------------------------------
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

CASES = [(3, 0.1), (7, 0.3), (10, 0.05)]


def _logits(k, seed, n=6):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=gen, dtype=torch.float64)
    t = torch.randint(0, k, (n,), generator=gen)
    return z, t


def _targets(t, k, a, convention="uniform"):
    return lsmath.smooth_targets(t, k, a, convention=convention).double()


@pytest.mark.parametrize("k,a", CASES)
def test_ls_minus_hard_is_alpha_times_centred_true_logit(k, a):
    z, t = _logits(k, 1)
    diff = F.cross_entropy(z, t, label_smoothing=a, reduction="none") - F.cross_entropy(
        z, t, reduction="none"
    )
    z_t = z.gather(1, t[:, None]).squeeze(1)
    assert torch.allclose(diff, a * (z_t - z.mean(1)), atol=1e-12)


@pytest.mark.parametrize("k,a", CASES)
def test_floor_is_the_entropy_reached_at_p_equal_y(k, a):
    t = torch.tensor([0])
    y = _targets(t, k, a)
    sheet = -(1 - a + a / k) * np.log(1 - a + a / k) - a * (k - 1) / k * np.log(a / k)
    assert np.isclose(-(y * y.log()).sum().item(), sheet, atol=1e-12)
    at_optimum = F.cross_entropy(y.log(), t, label_smoothing=a).item()
    assert np.isclose(at_optimum, sheet, atol=1e-12)
    eps = lsmath.eps_from_alpha(a, k)
    sheet_off = -(1 - eps) * np.log(1 - eps) - eps * np.log(eps / (k - 1))
    assert np.isclose(sheet_off, sheet, atol=1e-12)


@pytest.mark.parametrize("k,a", CASES)
def test_decompositions_both_conventions(k, a):
    z, t = _logits(k, 2)
    logp = torch.log_softmax(z, 1)
    p = logp.exp()
    ce_hard = -logp.gather(1, t[:, None]).squeeze(1)
    kl_u_p = (np.log(1 / k) - logp).mean(1)  # KL(u || p)
    ls = -(_targets(t, k, a) * logp).sum(1)
    assert torch.allclose(
        ls, (1 - a) * ce_hard + a * kl_u_p + a * np.log(k), atol=1e-12
    )
    eps = lsmath.eps_from_alpha(a, k)
    v = (1 - F.one_hot(t, k).double()) / (k - 1)  # uniform on wrong classes
    kl_v_p = (v * (v.clamp_min(1e-300).log() - logp)).sum(1)
    assert torch.allclose(
        ls, (1 - eps) * ce_hard + eps * kl_v_p + eps * np.log(k - 1), atol=1e-12
    )
    neg_entropy = (p * logp).sum(1)  # confidence penalty row
    kl_p_u = (p * (logp - np.log(1 / k))).sum(1)
    assert torch.allclose(neg_entropy, kl_p_u - np.log(k), atol=1e-12)


@pytest.mark.parametrize("k,a", CASES)
def test_gradient_at_uniform_and_at_one_hot(k, a):
    t = torch.tensor([1])
    z = torch.zeros(1, k, dtype=torch.float64, requires_grad=True)  # p = u
    F.cross_entropy(z, t, label_smoothing=a).backward()
    u, e_t = torch.full((k,), 1 / k, dtype=torch.float64), F.one_hot(t, k)[0].double()
    assert torch.allclose(z.grad[0], (1 - a) * (u - e_t), atol=1e-12)
    g_onehot = e_t - _targets(t, k, a)[0]  # p = e_t, gradient p - y
    assert torch.allclose(g_onehot, a * (e_t - u), atol=1e-12)
    assert np.isclose(g_onehot.norm().item(), a * np.sqrt(1 - 1 / k), atol=1e-12)


@pytest.mark.parametrize("k,a", CASES + [(2, 0.9), (5, 1.0)])
def test_lipschitz_constant_by_brute_force_over_the_simplex(k, a):
    y = _targets(torch.tensor([0]), k, a)[0]
    vertices = torch.eye(k, dtype=torch.float64)
    sup_vertices = (vertices - y).norm(dim=1).max().item()
    inner = torch.from_numpy(np.random.default_rng(0).dirichlet(np.ones(k), size=2000))
    assert (inner - y).norm(
        dim=1
    ).max().item() <= sup_vertices + 1e-12  # convex: max at a vertex
    assert np.isclose(
        sup_vertices, np.sqrt(2 * (1 - a) + (1 - 1 / k) * a**2), atol=1e-12
    )


@pytest.mark.parametrize("k,a", CASES)
def test_optimal_gap_by_optimisation(k, a):
    t = torch.tensor([0])
    z = lbfgs_minimize(
        lambda z: F.cross_entropy(z, t, label_smoothing=a),
        torch.zeros(1, k, dtype=torch.float64),
    )
    gaps = (z[0, 0] - z[0, 1:]).numpy()
    assert np.allclose(gaps, np.log(1 + k * (1 - a) / a), atol=1e-6)


def test_constant_predictor_flip():
    k, a, n = 4, 0.2, 10
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
    q = _targets(labels, k, a).mean(0)  # minimiser of the mean LS loss: mean target
    flipped = labels.clone()
    flipped[0] = 2  # one label c = 0 -> c' = 2
    q2 = _targets(flipped, k, a).mean(0)
    expected = (
        (1 - a)
        / n
        * (F.one_hot(torch.tensor(2), k) - F.one_hot(torch.tensor(0), k)).double()
    )
    assert torch.allclose(q2 - q, expected, atol=1e-12)


def test_kd_gradient_high_temperature_limit():
    z, _ = _logits(5, 3, n=1)
    zeta, _ = _logits(5, 4, n=1)
    temp = 1e4
    grad = temp * (torch.softmax(z / temp, 1) - torch.softmax(zeta / temp, 1))
    limit = ((z - z.mean()) - (zeta - zeta.mean())) / 5
    assert torch.allclose(grad, limit, atol=1e-4)


def test_weighted_pytorch_minimiser_is_c_over_C():
    k, a = 5, 0.2
    w = torch.tensor([0.5, 1.0, 2.0, 1.0, 4.0], dtype=torch.float64)
    t = torch.tensor([1])
    z = lbfgs_minimize(
        lambda z: F.cross_entropy(z, t, weight=w, label_smoothing=a, reduction="sum"),
        torch.zeros(1, k, dtype=torch.float64),
    )
    c = a / k * w.clone()
    c[1] += (1 - a) * w[1]
    assert torch.allclose(torch.softmax(z.detach(), 1)[0], c / c.sum(), atol=1e-6)
    assert c.sum() < w.max()  # so the heaviest class gets more than alpha / K
    assert (c / c.sum())[4] > a / k


@pytest.mark.parametrize("k,a", CASES)
def test_row_loss_from_three_numbers_both_conventions(k, a):
    z, t = _logits(k, 5)
    lse, z_t, z_sum = (
        torch.logsumexp(z, 1),
        z.gather(1, t[:, None]).squeeze(1),
        z.sum(1),
    )
    uniform = lse - (1 - a) * z_t - a / k * z_sum
    assert torch.allclose(
        F.cross_entropy(z, t, label_smoothing=a, reduction="none"), uniform, atol=1e-12
    )
    eps = lsmath.eps_from_alpha(a, k)
    off = lse - (1 - eps) * z_t - eps / (k - 1) * (z_sum - z_t)
    assert torch.allclose(uniform, off, atol=1e-12)


def test_large_vocabulary_floor_limit_both_conventions():
    a, v = sp.symbols("alpha V", positive=True)
    h_uniform = -(1 - a + a / v) * sp.log(1 - a + a / v) - (v - 1) * a / v * sp.log(
        a / v
    )
    limit = -(1 - a) * sp.log(1 - a) - a * sp.log(a)
    assert sp.simplify(sp.limit(h_uniform - a * sp.log(v), v, sp.oo) - limit) == 0
    h_off = -(1 - eps) * sp.log(1 - eps) - eps * sp.log(eps / (v - 1))
    limit_off = -(1 - eps) * sp.log(1 - eps) - eps * sp.log(eps)
    assert sp.simplify(sp.limit(h_off - eps * sp.log(v), v, sp.oo) - limit_off) == 0


@pytest.mark.parametrize("k,eta", [(3, 0.2), (10, 0.4)])
def test_symmetric_noise_row_both_columns(k, eta):
    # expected one-hot of a label flipped with probability eta to one of the K-1 others,
    # by enumerating the noisy label: off-target eps = eta, i.e. uniform alpha = eta K/(K-1)
    t = 1
    expected = torch.zeros(k, dtype=torch.float64)
    for noisy in range(k):
        expected[noisy] += (1 - eta) if noisy == t else eta / (k - 1)
    target = torch.tensor([t])
    assert torch.allclose(
        expected, _targets(target, k, eta, "off_target")[0], atol=1e-12
    )
    assert torch.allclose(
        expected, _targets(target, k, eta * k / (k - 1))[0], atol=1e-12
    )
    assert not torch.allclose(
        expected, _targets(target, k, eta)[0]
    )  # not uniform with alpha = eta
