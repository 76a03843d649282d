"""optimal_logit_gap against SymPy and numerical minimisation; lipschitz_constant
against enumeration of the simplex vertices and random search."""

import itertools

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lsmath
from lsmath import lipschitz_constant, optimal_logit_gap
from lsmath import symbolic as S
from lsmath.minimize import lbfgs_minimize


@pytest.mark.parametrize("convention", ["uniform", "off_target"])
def test_optimal_gap_solves_the_symbolic_stationarity_condition(convention):
    """dL/dd = 0 for the two-level loss, symbolic K: the root is log(y_true/y_other)."""
    a, K, d = sp.symbols("alpha K d", positive=True)
    loss = S.two_level_ls_loss(d, a, K, convention)
    (root,) = sp.solve(sp.diff(loss, d), d)
    y_t, y_o = S.smoothed_target(a, K, convention)
    assert sp.simplify(sp.exp(root) - y_t / y_o) == 0
    for k, alpha in [(3, 0.1), (10, 0.2), (100, 0.05)]:
        assert np.isclose(
            float(root.subs({a: alpha, K: k})), optimal_logit_gap(alpha, k, convention)
        )


def test_all_wrong_classes_equidistant_symbolically():
    """For K = 4, the stationarity conditions p = y_LS fix every gap z_t - z_k to the same value."""
    z = sp.symbols("z0:4", real=True)
    a = sp.Rational(1, 5)
    loss = S.ls_loss(z, 0, a)
    grads = [sp.simplify(sp.diff(loss, zi)) for zi in z]
    gap = optimal_logit_gap(0.2, 4)
    point = {z[0]: gap, z[1]: 0, z[2]: 0, z[3]: 0}
    assert all(abs(float(g.subs(point))) < 1e-12 for g in grads)


@pytest.mark.parametrize(
    "k,alpha,convention",
    [(3, 0.1, "uniform"), (10, 0.1, "off_target"), (5, 0.3, "uniform")],
)
def test_optimal_gap_matches_numerical_minimisation(k, alpha, convention):
    t = torch.tensor([0])
    z = lbfgs_minimize(
        lambda z: lsmath.ls_cross_entropy(z, t, alpha, convention=convention),
        torch.zeros(1, k, dtype=torch.float64),
    )
    gaps = (z[0, 0] - z[0, 1:]).numpy()
    np.testing.assert_allclose(gaps, optimal_logit_gap(alpha, k, convention), atol=1e-6)


def test_seed_values():
    assert round(optimal_logit_gap(0.1, 3), 4) == 3.3322  # seed 004
    # seed 001's log((1 - eps) / (eps / (K - 1))) is the off-target gap
    assert np.isclose(optimal_logit_gap(0.1, 7, "off_target"), np.log(0.9 / (0.1 / 6)))
    assert optimal_logit_gap(0.0, 5) == np.inf
    assert optimal_logit_gap(1.0, 5) == 0.0
    np.testing.assert_allclose(
        optimal_logit_gap(np.array([0.1, 1.0]), 3), [np.log(28), 0.0]
    )


def _vertex_enumeration(alpha, k, convention):
    y = (
        lsmath.smooth_targets(torch.tensor([0]), k, alpha, convention)
        .double()
        .numpy()[0]
    )
    return max(np.linalg.norm(np.eye(k)[j] - y) for j in range(k))


@pytest.mark.parametrize(
    "alpha,k,convention",
    list(
        itertools.product(
            [0.0, 0.05, 0.1, 0.5, 0.9, 1.0], [2, 3, 10], ["uniform", "off_target"]
        )
    ),
)
def test_lipschitz_equals_vertex_enumeration(alpha, k, convention):
    assert np.isclose(
        lipschitz_constant(alpha, k, convention),
        _vertex_enumeration(alpha, k, convention),
    )


@settings(max_examples=30, deadline=None)
@given(k=st.integers(2, 8), alpha=st.floats(0.0, 1.0), seed=st.integers(0, 2**16))
def test_property_no_point_of_the_simplex_exceeds_the_constant(k, alpha, seed):
    """Random logits (also very peaked ones) never give a gradient norm above the constant."""
    g = torch.Generator().manual_seed(seed)
    z = (
        torch.randn(256, k, generator=g, dtype=torch.float64)
        * torch.logspace(-1, 2, 256, dtype=torch.float64)[:, None]
    )
    t = torch.zeros(256, dtype=torch.long)
    norms = torch.linalg.norm(lsmath.ls_gradient(z, t, alpha), dim=1)
    assert float(norms.max()) <= lipschitz_constant(alpha, k) + 1e-12


def test_lipschitz_known_values_and_symbolic_vertex():
    assert np.isclose(lipschitz_constant(0.0, 10), np.sqrt(2))
    a, K = sp.symbols("alpha K", positive=True)
    y_t, y_o = S.smoothed_target(a, K)
    at_wrong = y_t**2 + (1 - y_o) ** 2 + (K - 2) * y_o**2
    at_true = (1 - y_t) ** 2 + (K - 1) * y_o**2
    # for alpha <= 1 the wrong-class vertex is the farther one: difference = 2 (y_t - y_o) >= 0
    assert sp.simplify(at_wrong - at_true - 2 * (y_t - y_o)) == 0
    assert np.isclose(
        lipschitz_constant(0.1, 3), float(sp.sqrt(at_wrong).subs({a: 0.1, K: 3}))
    )


@pytest.mark.parametrize("f", [optimal_logit_gap, lipschitz_constant])
def test_bad_input(f):
    with pytest.raises(ValueError, match="alpha"):
        f(1.2, 3)
    with pytest.raises(ValueError, match="alpha"):
        f(float("nan"), 3)
    with pytest.raises(ValueError, match="num_classes"):
        f(0.1, 1)
    with pytest.raises(ValueError, match="convention"):
        f(0.1, 3, "nope")
    with pytest.raises(ValueError, match="eps"):
        f(-0.1, 3, "off_target")
