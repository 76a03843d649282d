"""The shared SymPy definitions agree with the numerical ones."""

import numpy as np
import sympy as sp
import torch

import lsmath
from lsmath import symbolic as S


def test_softmax_and_loss_match_torch():
    z = sp.symbols("z0:3", real=True)
    vals = {z[0]: 1.5, z[1]: -0.3, z[2]: 0.2}
    p = [float(pi.subs(vals)) for pi in S.softmax(z)]
    np.testing.assert_allclose(
        p, torch.softmax(torch.tensor([1.5, -0.3, 0.2], dtype=torch.float64), 0).numpy()
    )
    for conv in ["uniform", "off_target"]:
        loss = float(S.ls_loss(z, 1, sp.Rational(1, 10), conv).subs(vals))
        ref = lsmath.ls_cross_entropy(
            torch.tensor([[1.5, -0.3, 0.2]], dtype=torch.float64),
            torch.tensor([1]),
            0.1,
            convention=conv,
        )
        assert np.isclose(loss, float(ref))


def test_gradient_is_p_minus_y_symbolically():
    z = sp.symbols("z0:4", real=True)
    a = sp.symbols("alpha", positive=True)
    loss = S.ls_loss(z, 2, a)
    p = S.softmax(z)
    y = S.smoothed_target_vector(a, 4, 2)
    for i in range(4):
        assert sp.simplify(sp.diff(loss, z[i]) - (p[i] - y[i])) == 0


def test_cross_entropy_is_entropy_plus_kl():
    y = sp.symbols("y0:3", positive=True)
    p = sp.symbols("p0:3", positive=True)
    assert (
        sp.simplify(S.cross_entropy(y, p) - S.entropy(y) - S.kl_divergence(y, p)) == 0
    )


def test_two_level_probabilities_sum_to_one():
    d, K = sp.symbols("d K", positive=True)
    p_t, p_o = S.two_level_probabilities(d, K)
    assert sp.simplify(p_t + (K - 1) * p_o - 1) == 0
