"""The off-target column of the formula sheet (chapters/formula_sheet.md):
each entry equals its uniform twin after alpha = eps K / (K - 1), for general K."""

import numpy as np
import pytest
import sympy as sp

import lsmath
from lsmath import symbolic as S

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
        assert np.isclose(lsmath.lipschitz_constant(e, k, "off_target"), float(sp.sqrt(off.subs({K: k, eps: e}))))


@pytest.mark.parametrize("k,e", [(3, 0.1), (10, 0.05), (1000, 0.2)])
def test_optimal_gap_off_target(k, e):
    assert np.isclose(lsmath.optimal_logit_gap(e, k, "off_target"), np.log((k - 1) * (1 - e) / e))
    a = lsmath.alpha_from_eps(e, k)
    assert np.isclose(lsmath.optimal_logit_gap(a, k), np.log(1 + k * (1 - a) / a))
