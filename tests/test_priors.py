"""lsmath.priors: smoothing towards a prior, DisturbLabel, online label smoothing, twin mixture.

Each closed form is checked against an independent computation: SymPy, a
numerical minimisation with lsmath.minimize.lbfgs_minimize, Monte Carlo, or a plain loop.
"""

import math

import numpy as np
import pytest
import sympy as sp
import torch

import lsmath
from lsmath import symbolic as S
from lsmath.minimize import lbfgs_minimize
from lsmath.priors import (
    OnlineLabelSmoothing,
    disturb_label_alpha,
    disturb_label_variance,
    disturb_labels,
    make_twin_mixture,
    prior_from_confusion,
    prior_from_groups,
    prior_optimal_logit_gaps,
    prior_targets,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _random_prior(k, seed=0, zero_at=None):
    rng = np.random.default_rng(seed)
    p = rng.random(k) + 0.05
    if zero_at is not None:
        p[zero_at] = 0.0
    return p / p.sum()


# ------------------------------------------------------------------ prior_targets


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5, 1.0])
def test_uniform_prior_is_ordinary_label_smoothing(alpha):
    t = torch.tensor([0, 3, 2, 1, 3])
    y = prior_targets(t, alpha, np.full(4, 0.25), dtype=torch.float64)
    expected = lsmath.smooth_targets(t, 4, alpha, dtype=torch.float64)
    assert torch.allclose(y, expected, atol=1e-15)


def test_off_target_uniform_prior_is_off_target_convention():
    k, eps = 5, 0.2
    t = torch.tensor([4, 0, 2])
    prior = (1 - np.eye(k)) / (k - 1)
    y = prior_targets(t, eps, prior, dtype=torch.float64)
    expected = lsmath.smooth_targets(
        t, k, eps, convention="off_target", dtype=torch.float64
    )
    assert torch.allclose(y, expected, atol=1e-15)


def test_matrix_prior_uses_the_row_of_each_label():
    k = 4
    prior = np.stack([_random_prior(k, seed=s) for s in range(k)])
    t = torch.tensor([2, 0, 2, 3])
    y = prior_targets(t, 0.3, prior, dtype=torch.float64)
    for n, tn in enumerate(t.tolist()):
        row = 0.3 * prior[tn]
        row[tn] += 0.7
        assert np.allclose(y[n].numpy(), row, atol=1e-15)
    assert torch.allclose(y.sum(dim=1), torch.ones(4, dtype=torch.float64))


def test_negative_alpha_targets_sum_to_one_with_negative_entries():
    y = prior_targets(torch.tensor([1]), -0.5, np.full(4, 0.25), dtype=torch.float64)[0]
    assert math.isclose(float(y.sum()), 1.0, abs_tol=1e-15)
    assert float(y[1]) == pytest.approx(1.5 - 0.125)
    assert (y[[0, 2, 3]] == -0.125).all()


@pytest.mark.parametrize(
    "kwargs, err",
    [
        (dict(alpha=1.2), ValueError),
        (dict(alpha=float("nan")), ValueError),
        (dict(alpha="0.1"), TypeError),
        (dict(prior=[0.5, 0.6, -0.1]), ValueError),
        (dict(prior=[0.5, 0.4, 0.0]), ValueError),
        (dict(prior=np.ones((3, 2)) / 2), ValueError),
        (dict(prior="uniform"), TypeError),
        (dict(target=torch.tensor([0, 3])), ValueError),
        (dict(target=torch.tensor([0.0, 1.0])), TypeError),
        (dict(dtype=torch.int64), TypeError),
    ],
)
def test_prior_targets_rejects_bad_input(kwargs, err):
    args = dict(target=torch.tensor([0, 2]), alpha=0.1, prior=np.full(3, 1 / 3))
    args.update(kwargs)
    with pytest.raises(err):
        prior_targets(**args)


# ------------------------------------------------------------------ the minimiser


def test_gaps_match_lbfgs_minimisation():
    k, t, alpha = 6, 2, 0.3
    prior = _random_prior(k, seed=3)
    y = torch.tensor(prior * alpha, dtype=torch.float64)
    y[t] += 1 - alpha
    z = lbfgs_minimize(
        lambda z: -(y * torch.log_softmax(z, dim=0)).sum(),
        torch.zeros(k, dtype=torch.float64),
    )
    found = (z - z[t]).numpy()
    assert np.allclose(prior_optimal_logit_gaps(alpha, prior, t), found, atol=1e-6)


def test_gaps_for_the_uniform_prior_are_the_book_gap():
    for k in (2, 3, 10):
        for alpha in (0.05, 0.1, 0.5):
            g = prior_optimal_logit_gaps(alpha, np.full(k, 1 / k), 0)
            assert g[0] == 0
            assert np.allclose(g[1:], -lsmath.optimal_logit_gap(alpha, k), atol=1e-12)


def test_gaps_symbolic_stationarity_k4():
    # softmax(log y) = y when y sums to 1, so the gradient p - y vanishes there
    a = sp.symbols("alpha", positive=True)
    pis = sp.symbols("pi0:4", positive=True)
    pis = list(pis[:3]) + [1 - sum(pis[:3])]
    y = [a * p for p in pis]
    y[0] += 1 - a
    z = [sp.log(yk) - sp.log(y[0]) for yk in y]  # the claimed gaps, z_t = 0
    p = S.softmax(z)
    assert all(sp.simplify(pk - yk) == 0 for pk, yk in zip(p, y))


def test_gap_is_minus_inf_where_the_prior_is_zero_and_matrix_rows_are_used():
    prior = prior_from_groups([0, 0, 1, 1], within=1.0)  # no mass outside the group
    g = prior_optimal_logit_gaps(0.2, prior, 1)
    assert g[1] == 0 and np.isneginf(g[2]) and np.isneginf(g[3])
    assert g[0] == pytest.approx(math.log(0.2 / 0.8))


@pytest.mark.parametrize(
    "args, err",
    [
        ((-0.1, [0.5, 0.5], 0), ValueError),
        ((1.0, [0.0, 1.0], 0), ValueError),
        ((0.1, [0.5, 0.5], 2), ValueError),
        ((0.1, [0.5, 0.5], 0.0), TypeError),
    ],
)
def test_gaps_reject_bad_input(args, err):
    with pytest.raises(err):
        prior_optimal_logit_gaps(*args)


def test_negative_alpha_error_says_there_is_no_minimiser():
    with pytest.raises(ValueError, match="no finite minimiser"):
        prior_optimal_logit_gaps(-0.2, [0.25] * 4, 0)


# ------------------------------------------------------------------ priors from similarity


def test_prior_from_confusion_against_a_loop():
    rng = np.random.default_rng(0)
    c = rng.integers(0, 20, size=(5, 5)).astype(float)
    got = prior_from_confusion(c, pseudocount=0.5)
    for t in range(5):
        denom = sum(c[t, j] + 0.5 for j in range(5) if j != t)
        for k in range(5):
            want = 0.0 if k == t else (c[t, k] + 0.5) / denom
            assert got[t, k] == pytest.approx(want, abs=1e-15)


def test_prior_from_confusion_tends_to_off_target_uniform():
    c = np.array([[50, 3, 0], [1, 40, 9], [0, 0, 30]])
    got = prior_from_confusion(c, pseudocount=1e12)
    assert np.allclose(got, (1 - np.eye(3)) / 2, atol=1e-9)


@pytest.mark.parametrize(
    "c, kw, err",
    [
        (np.eye(3), dict(pseudocount=0.0), ValueError),
        (np.ones((2, 3)), {}, ValueError),
        (-np.ones((3, 3)), {}, ValueError),
        (np.ones((3, 3)), dict(pseudocount=-1.0), ValueError),
        (np.ones((3, 3)), dict(pseudocount="1"), TypeError),
    ],
)
def test_prior_from_confusion_rejects_bad_input(c, kw, err):
    with pytest.raises(err):
        prior_from_confusion(c, **kw)


def test_prior_from_groups_rows_and_values():
    g = [0, 0, 0, 1, 2, 2]
    pi = prior_from_groups(g, within=0.7)
    assert np.allclose(pi.sum(axis=1), 1) and np.allclose(np.diag(pi), 0)
    assert pi[0, 1] == pytest.approx(0.35) and pi[0, 3] == pytest.approx(0.1)
    assert np.allclose(pi[3, [0, 1, 2, 4, 5]], 0.2)  # a class alone in its group
    assert np.allclose(prior_from_groups([0, 0, 0], within=0.2), (1 - np.eye(3)) / 2)
    with pytest.raises(ValueError):
        prior_from_groups(g, within=1.5)
    with pytest.raises(TypeError):
        prior_from_groups([0.0, 1.0])


# ------------------------------------------------------------------ DisturbLabel


def test_disturb_labels_frequencies_monte_carlo():
    k, r, n = 5, 0.3, 400_000
    y = torch.full((n,), 2, dtype=torch.long)
    noisy = disturb_labels(y, k, r, generator=torch.Generator().manual_seed(1))
    freq = torch.bincount(noisy, minlength=k).double() / n
    expected = torch.full((k,), r / k, dtype=torch.float64)
    expected[2] += 1 - r
    se = torch.sqrt(expected * (1 - expected) / n)
    assert ((freq - expected).abs() < 5 * se).all()
    assert (y == 2).all()


def test_disturb_labels_reproducible_and_checked():
    y = torch.arange(10) % 3
    a = disturb_labels(y, 3, 0.5, generator=torch.Generator().manual_seed(7))
    b = disturb_labels(y, 3, 0.5, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert torch.equal(disturb_labels(y, 3, 0.0), y)
    with pytest.raises(ValueError):
        disturb_labels(y, 3, 1.5)
    with pytest.raises(ValueError):
        disturb_labels(y, 2, 0.1)
    with pytest.raises(TypeError):
        disturb_labels(y.float(), 3, 0.1)


def test_expected_disturblabel_loss_is_ls_loss_symbolic_k():
    r, K = sp.symbols("r K", positive=True)
    lt, lo = sp.symbols(
        "l_t l_o", real=True
    )  # -log p_t, and the sum of -log p_k over k != t
    p_keep = 1 - r + r / K  # label kept, or redrawn as itself
    expected = p_keep * lt + (r / K) * lo
    y_true, y_other = S.smoothed_target(disturb_label_alpha(1.0, 2) * r, K, "uniform")
    assert sp.simplify(expected - (y_true * lt + y_other * lo)) == 0
    # Goodfellow et al.'s noise model (another class w.p. eps) is the off-target convention
    eps = sp.symbols("epsilon", positive=True)
    noisy = (1 - eps) * lt + eps / (K - 1) * lo
    yt_off, yo_off = S.smoothed_target(eps, K, "off_target")
    assert sp.simplify(noisy - (yt_off * lt + yo_off * lo)) == 0


def test_expected_disturblabel_loss_monte_carlo():
    k, r, m = 7, 0.25, 20_000
    gen = torch.Generator().manual_seed(0)
    z = 2 * torch.randn(16, k, generator=gen, dtype=torch.float64)
    y = torch.randint(0, k, (16,), generator=gen)
    reps = disturb_labels(y.repeat(m), k, r, generator=gen).view(m, 16)
    logp = torch.log_softmax(z, dim=1)
    losses = -logp.gather(1, reps.T)  # (16, m)
    mc, se = losses.mean(dim=1), losses.std(dim=1) / math.sqrt(m)
    ls = lsmath.ls_cross_entropy(z, y, disturb_label_alpha(r, k), reduction="none")
    assert ((mc - ls).abs() < 5 * se + 1e-12).all()


def test_disturb_label_alpha_conventions():
    assert disturb_label_alpha(0.2, 5) == 0.2
    assert disturb_label_alpha(0.2, 5, "off_target") == pytest.approx(0.16)
    y_u = lsmath.smooth_targets(torch.tensor([0]), 5, 0.2, dtype=torch.float64)
    y_o = lsmath.smooth_targets(
        torch.tensor([0]),
        5,
        disturb_label_alpha(0.2, 5, "off_target"),
        convention="off_target",
        dtype=torch.float64,
    )
    assert torch.allclose(y_u, y_o, atol=1e-15)
    with pytest.raises(ValueError):
        disturb_label_alpha(0.2, 5, "other")


def test_disturb_label_variance_closed_form_sympy_and_monte_carlo():
    r, K = sp.symbols("r K", positive=True)
    q_t, q_o = 1 - r + r / K, r / K
    trace_cov = 1 - q_t**2 - (K - 1) * q_o**2  # E||e_Y - q||^2 = 1 - ||q||^2
    assert sp.simplify(trace_cov - r * (2 - r) * (K - 1) / K) == 0
    k, rate, n = 6, 0.4, 300_000
    y = torch.zeros(n, dtype=torch.long)
    e = torch.nn.functional.one_hot(
        disturb_labels(y, k, rate, generator=torch.Generator().manual_seed(3)), k
    )
    var = e.double().var(dim=0, unbiased=True).sum().item()
    assert var == pytest.approx(disturb_label_variance(rate, k), abs=3e-3)


# ------------------------------------------------------------------ online label smoothing


def test_online_label_smoothing_against_a_loop():
    k = 4
    gen = torch.Generator().manual_seed(0)
    ols = OnlineLabelSmoothing(k, init_alpha=0.2)
    assert torch.allclose(
        ols.targets(torch.tensor([1]), dtype=torch.float64),
        lsmath.smooth_targets(torch.tensor([1]), k, 0.2, dtype=torch.float64),
    )
    batches = [
        (
            torch.randn(30, k, generator=gen, dtype=torch.float64),
            torch.randint(0, k - 1, (30,), generator=gen),
        )
        for _ in range(3)
    ]  # class 3 never
    for z, t in batches:
        ols.update(z, t)
    ols.next_epoch()
    for c in range(k):
        rows = [
            torch.softmax(z[n], 0)
            for z, t in batches
            for n in range(30)
            if t[n] == c and int(z[n].argmax()) == c
        ]
        if rows:
            assert torch.allclose(ols.matrix[c], torch.stack(rows).mean(0), atol=1e-12)
    assert torch.allclose(
        ols.matrix[3],
        lsmath.smooth_targets(torch.tensor([3]), k, 0.2, dtype=torch.float64)[0],
    )
    assert torch.allclose(ols.matrix.sum(1), torch.ones(k, dtype=torch.float64))


def test_online_label_smoothing_loss_and_errors():
    k = 3
    ols = OnlineLabelSmoothing(k, init_alpha=0.1)
    z = torch.randn(
        5, k, dtype=torch.float64, generator=torch.Generator().manual_seed(2)
    )
    t = torch.tensor([0, 1, 2, 1, 0])
    want = 0.3 * torch.nn.functional.cross_entropy(
        z, t
    ) + 0.7 * torch.nn.functional.cross_entropy(z, t, label_smoothing=0.1)
    assert torch.isclose(ols.loss(z, t, hard_weight=0.3), want)
    with pytest.raises(ValueError):
        ols.update(z[:, :2], t)
    with pytest.raises(ValueError):
        ols.update(z, t[:3])
    with pytest.raises(ValueError):
        ols.loss(z, t, hard_weight=2.0)
    with pytest.raises(ValueError):
        OnlineLabelSmoothing(3, init_alpha=-0.1)


# ------------------------------------------------------------------ twin mixture


def test_twin_mixture_posterior_and_twin_error_rate():
    mix = make_twin_mixture(
        100,
        100,
        20_000,
        num_pairs=3,
        dim=4,
        twin_distance=2.0,
        pair_spread=30.0,
        seed=1,
    )
    post = mix.posterior(mix.raw_test)
    assert np.allclose(post.sum(axis=1), 1)
    y = mix.split.y_test.numpy()
    pred = post.argmax(axis=1)
    # pairs far apart: every Bayes error is a twin error, at rate Phi(-d/2) = Phi(-1)
    assert (mix.groups[pred] == mix.groups[y]).all()
    phi = 0.5 * math.erfc(1 / math.sqrt(2))
    assert (pred != y).mean() == pytest.approx(phi, abs=0.01)
    assert mix.split.num_classes == 6 and tuple(mix.split.x_train.shape) == (100, 4)
    with pytest.raises(ValueError):
        make_twin_mixture(0, 10, 10)
