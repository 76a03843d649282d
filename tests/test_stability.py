"""lsmath.stability.

Label flips, label noise, closed-form minimisers, the Newton fit, the bounds.
"""

import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lsmath
from lsmath import symbolic
from lsmath.stability import (
    _hessian,
    constant_predictor,
    fit_softmax_regression,
    flip_label,
    label_flip_weight_bound,
    symmetric_label_noise,
    tabular_predictor,
    uniform_stability_bound,
)


def _labels(n, k, seed=0):
    return torch.randint(0, k, (n,), generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ label helpers


def test_flip_label_default_and_explicit():
    y = torch.tensor([0, 2, 1, 2])
    assert flip_label(y, 1, 3).tolist() == [0, 0, 1, 2]
    assert flip_label(y, -1, 3, new_class=1).tolist() == [0, 2, 1, 1]
    assert y.tolist() == [0, 2, 1, 2]  # input untouched


@pytest.mark.parametrize(
    "kwargs,exc",
    [
        ({"index": 4}, ValueError),
        ({"index": 0, "new_class": 0}, ValueError),
        ({"index": 0, "new_class": 3}, ValueError),
        ({"index": 1.0}, ValueError),
    ],
)
def test_flip_label_rejects(kwargs, exc):
    with pytest.raises(exc):
        flip_label(torch.tensor([0, 1, 2, 0]), num_classes=3, **kwargs)


def test_flip_label_rejects_float_labels():
    with pytest.raises(TypeError, match="labels"):
        flip_label(torch.tensor([0.0, 1.0]), 0, 2)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 300),
    k=st.integers(2, 12),
    rate=st.floats(0, 1),
    seed=st.integers(0, 10_000),
)
def test_symmetric_noise_exact_fraction_and_other_class(n, k, rate, seed):
    y = _labels(n, k, seed)
    noisy, mask = symmetric_label_noise(y, k, rate, seed=seed)
    assert int(mask.sum()) == round(rate * n)
    assert bool((noisy[mask] != y[mask]).all())
    assert bool((noisy[~mask] == y[~mask]).all())
    assert int(noisy.min()) >= 0 and int(noisy.max()) < k


def test_symmetric_noise_is_seeded_and_uniform_over_other_classes():
    y = torch.zeros(60_000, dtype=torch.long)
    a, _ = symmetric_label_noise(y, 4, 0.5, seed=3)
    b, _ = symmetric_label_noise(y, 4, 0.5, seed=3)
    assert torch.equal(a, b)
    # expected one-hot of a noisy label = off-target smoothing with eps = rate
    freq = torch.bincount(a, minlength=4).double() / len(a)
    expected = lsmath.smooth_targets(torch.tensor([0]), 4, 0.5, "off_target")[
        0
    ].double()
    assert torch.allclose(freq, expected, atol=0.01)


def test_symmetric_noise_rejects_bad_rate():
    with pytest.raises(ValueError, match="rate"):
        symmetric_label_noise(torch.tensor([0, 1]), 2, 1.5)


# ------------------------------------------------------------- closed-form models


@pytest.mark.parametrize("convention", ["uniform", "off_target"])
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5, 1.0])
def test_constant_predictor_formula_and_flip_law(alpha, convention):
    k, n = 5, 40
    y = _labels(n, k, 1)
    q = constant_predictor(y, k, alpha, convention)
    freq = torch.bincount(y, minlength=k).double() / n
    y_true, y_other = lsmath.smoothed_target_values(alpha, k, convention)
    assert torch.allclose(q, (y_true - y_other) * freq + y_other, atol=1e-15)
    assert math.isclose(float(q.sum()), 1.0, abs_tol=1e-14)
    q2 = constant_predictor(flip_label(y, 3, k), k, alpha, convention)
    diff = (q2 - q).abs()
    step = abs(y_true - y_other) / n
    assert math.isclose(float(diff.max()), step, abs_tol=1e-15)
    assert int((diff > 1e-15).sum()) == (2 if step > 0 else 0)


def test_constant_predictor_is_the_numerical_minimiser():
    k, n = 6, 30
    y = _labels(n, k, 2)
    for alpha in [0.05, 0.3]:
        fit = fit_softmax_regression(torch.ones(n, 1), y, k, alpha, 0.0)
        q = torch.softmax(fit.weight[:, 0], 0)
        assert fit.grad_norm < 1e-10
        assert torch.allclose(q, constant_predictor(y, k, alpha), atol=1e-10)


def test_constant_predictor_sympy_k3():
    """Solve the stationarity conditions on the simplex for K = 3 with symbolic counts."""
    a = sp.symbols("alpha", positive=True)
    n1, n2, n3, q1, q2 = sp.symbols("n1 n2 n3 q1 q2", positive=True)
    n = n1 + n2 + n3
    ybar = [(1 - a) * c / n + a / 3 for c in (n1, n2, n3)]
    q = [q1, q2, 1 - q1 - q2]
    loss = symbolic.cross_entropy(ybar, q)
    sol = sp.solve([sp.diff(loss, q1), sp.diff(loss, q2)], [q1, q2], dict=True)
    assert len(sol) == 1
    assert (
        sp.simplify(sol[0][q1] - ybar[0]) == 0
        and sp.simplify(sol[0][q2] - ybar[1]) == 0
    )


def test_tabular_predictor_matches_fit_and_flip_is_local():
    g = torch.Generator().manual_seed(4)
    ids = torch.randint(0, 6, (120,), generator=g)
    y = torch.randint(0, 4, (120,), generator=g)
    x = torch.nn.functional.one_hot(ids, 6).double()
    alpha = 0.2
    fit = fit_softmax_regression(x, y, 4, alpha, 0.0)
    table = tabular_predictor(ids, y, 6, 4, alpha)
    assert torch.allclose(torch.softmax(fit.weight.T, 1), table, atol=1e-9)
    j = 7
    table2 = tabular_predictor(ids, flip_label(y, j, 4), 6, 4, alpha)
    diff = (table2 - table).abs()
    n_x = int((ids == ids[j]).sum())
    assert math.isclose(float(diff.max()), (1 - alpha) / n_x, rel_tol=1e-12)
    others = torch.arange(6) != ids[j]
    assert float(diff[others].max()) == 0.0


def test_tabular_unseen_rows_uniform_and_validation():
    t = tabular_predictor(torch.tensor([0, 0]), torch.tensor([1, 1]), 3, 2, 0.0)
    assert torch.allclose(t[1:], torch.full((2, 2), 0.5, dtype=torch.float64))
    with pytest.raises(ValueError, match="inputs"):
        tabular_predictor(torch.tensor([0, 3]), torch.tensor([1, 1]), 3, 2, 0.0)
    with pytest.raises(ValueError, match="same shape"):
        tabular_predictor(torch.tensor([0]), torch.tensor([1, 1]), 3, 2, 0.0)


# ------------------------------------------------------------- Newton fit, bounds


def _problem(n=60, d=4, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    x = torch.cat([x, torch.ones(n, 1, dtype=torch.float64)], 1)
    y = torch.randint(0, k, (n,), generator=g)
    return x, y


def test_hessian_matches_autograd():
    x, y = _problem(n=20, d=3, k=4)
    w = torch.randn(
        4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    yls = lsmath.smooth_targets(y, 4, 0.2).double()
    lam = 0.3

    def f(v):
        return (
            -(yls * torch.log_softmax(x @ v.reshape(4, 4).T, 1)).sum(1).mean()
            + 0.5 * lam * (v * v).sum()
        )

    h_auto = torch.autograd.functional.hessian(f, w.reshape(-1))
    p = torch.softmax(x @ w.T, 1)
    assert torch.allclose(_hessian(x, p, lam), h_auto, atol=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.4])
def test_fit_reaches_stationarity_and_matches_autograd_gradient(alpha):
    x, y = _problem()
    lam = 0.05
    fit = fit_softmax_regression(x, y, 3, alpha, lam)
    assert fit.grad_norm <= 1e-11 and fit.error_bound <= 1e-9
    w = fit.weight.clone().requires_grad_(True)
    yls = lsmath.smooth_targets(y, 3, alpha).double()
    obj = lsmath.ls_cross_entropy(x @ w.T, y, alpha) + 0.5 * lam * (w * w).sum()
    (g,) = torch.autograd.grad(obj, w)
    assert float(g.norm()) < 1e-6  # ls_cross_entropy smooths in float32 targets
    obj64 = (
        -(yls * torch.log_softmax(x @ w.T, 1)).sum(1).mean() + 0.5 * lam * (w * w).sum()
    )
    assert math.isclose(float(obj64.detach()), fit.objective, rel_tol=1e-6)


def test_fit_warm_start_same_answer_and_validation():
    x, y = _problem()
    a = fit_softmax_regression(x, y, 3, 0.1, 0.1)
    b = fit_softmax_regression(x, y, 3, 0.1, 0.1, init=a.weight + 0.5)
    assert torch.allclose(a.weight, b.weight, atol=1e-10)
    with pytest.raises(ValueError, match="lam"):
        fit_softmax_regression(x, y, 3, 0.1, -1.0)
    with pytest.raises(ValueError, match="init"):
        fit_softmax_regression(x, y, 3, 0.1, 0.1, init=torch.zeros(2, 2))
    with pytest.raises(ValueError, match="rows"):
        fit_softmax_regression(x, y[:-1], 3, 0.1, 0.1)
    with pytest.raises(ValueError, match="alpha"):
        fit_softmax_regression(x, y, 3, 1.5, 0.1)


@pytest.mark.parametrize("alpha", [0.0, 0.2, 0.6, 1.0])
@pytest.mark.parametrize("lam", [0.01, 0.3])
def test_label_flip_bound_holds(alpha, lam):
    x, y = _problem(n=50, d=3, k=4, seed=5)
    fit = fit_softmax_regression(x, y, 4, alpha, lam)
    for j in range(5):
        fit2 = fit_softmax_regression(
            x, flip_label(y, j, 4), 4, alpha, lam, init=fit.weight
        )
        change = float((fit2.weight - fit.weight).norm())
        bound = label_flip_weight_bound(alpha, 50, lam, float(x[j].norm()), 4)
        assert change <= bound + fit.error_bound + fit2.error_bound
        if alpha == 1.0:
            assert change < 1e-9  # labels no longer matter


def test_label_flip_bound_values_and_conventions():
    assert math.isclose(
        label_flip_weight_bound(0.1, 100, 0.1, 1.0), math.sqrt(2) * 0.9 / 10
    )
    # off_target eps gives the same number as the equivalent uniform alpha
    eps = 0.09
    k = 10
    assert math.isclose(
        label_flip_weight_bound(eps, 7, 0.2, 3.0, k, "off_target"),
        label_flip_weight_bound(lsmath.alpha_from_eps(eps, k), 7, 0.2, 3.0, k),
    )
    arr = label_flip_weight_bound(np.array([0.0, 0.5]), 10, 1.0, 1.0)
    assert np.allclose(arr, [math.sqrt(2) / 10, math.sqrt(2) / 20])
    with pytest.raises(ValueError, match="lam"):
        label_flip_weight_bound(0.1, 10, 0.0, 1.0)
    with pytest.raises(ValueError, match="n"):
        label_flip_weight_bound(0.1, 0, 1.0, 1.0)


def test_uniform_stability_bound():
    assert math.isclose(uniform_stability_bound(math.sqrt(2), 1.0, 0.5, 100), 0.04)
    assert math.isclose(
        uniform_stability_bound(lsmath.lipschitz_constant(0.0, 5), 2.0, 1.0, 8),
        2 * 4 / 8,
    )
    with pytest.raises(ValueError, match="lam"):
        uniform_stability_bound(1.0, 1.0, 0.0, 10)


# --------------------------------------------------- Hessian in logits, Lipschitz


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_logit_hessian_independent_of_target(alpha):
    z = torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    h = torch.autograd.functional.hessian(
        lambda v: lsmath.ls_cross_entropy(v[None], torch.tensor([2]), alpha), z
    )
    assert torch.allclose(h, lsmath.softmax_hessian(z), atol=1e-6)


def test_logit_hessian_norm_at_most_half():
    z = (
        torch.randn(
            2000, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
        )
        * 4
    )
    top = torch.linalg.eigvalsh(lsmath.softmax_hessian(z))[:, -1]
    assert float(top.max()) <= 0.5 + 1e-12
    assert math.isclose(
        float(
            torch.linalg.eigvalsh(
                lsmath.softmax_hessian(
                    torch.tensor([0.0, 0.0, -40.0], dtype=torch.float64)
                )
            )[-1]
        ),
        0.5,
        rel_tol=1e-9,
    )


def test_lipschitz_closed_form_and_vertex():
    a, K = sp.symbols("alpha K", positive=True)
    y_t, y_o = symbolic.smoothed_target(a, K)
    at_wrong = y_t**2 + (1 - y_o) ** 2 + (K - 2) * y_o**2
    assert sp.simplify(at_wrong - (2 * (1 - a) + a**2 * (K - 1) / K)) == 0
    for k in [2, 3, 10]:
        for alpha in [0.0, 0.1, 0.5, 1.0]:
            closed = math.sqrt(2 * (1 - alpha) + alpha**2 * (k - 1) / k)
            assert math.isclose(
                lsmath.lipschitz_constant(alpha, k), closed, rel_tol=1e-12
            )
            p = torch.distributions.Dirichlet(
                torch.ones(k, dtype=torch.float64) * 0.3
            ).sample((3000,))
            yls = lsmath.smooth_targets(torch.tensor([0]), k, alpha).double()
            assert float((p - yls).norm(dim=1).max()) <= closed + 1e-12
