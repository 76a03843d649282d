"""lsmath.minimize against closed forms: a quadratic, and the LS stationary logits."""

import numpy as np
import pytest
import torch

import lsmath
from lsmath.minimize import lbfgs_minimize


def test_quadratic_two_parameters():
    a, b = lbfgs_minimize(
        lambda u, v: ((u - 1.5) ** 2).sum() + ((v + 2.0) ** 2).sum(),
        torch.zeros(3, dtype=torch.float64),
        torch.ones(2, dtype=torch.float64),
    )
    assert torch.allclose(a, torch.full((3,), 1.5, dtype=torch.float64))
    assert torch.allclose(b, torch.full((2,), -2.0, dtype=torch.float64))


@pytest.mark.parametrize("k,alpha", [(3, 0.1), (10, 0.2)])
def test_ls_minimiser_is_the_optimal_gap(k, alpha):
    init = torch.zeros(1, k, dtype=torch.float64)
    z = lbfgs_minimize(
        lambda z: lsmath.ls_cross_entropy(z, torch.tensor([0]), alpha), init
    )
    gaps = (z[0, 0] - z[0, 1:]).numpy()
    np.testing.assert_allclose(gaps, lsmath.optimal_logit_gap(alpha, k), atol=1e-6)
    assert torch.equal(init, torch.zeros(1, k, dtype=torch.float64))  # not modified


@pytest.mark.parametrize(
    "kwargs,exc",
    [
        ({"max_iter": 0}, ValueError),
        ({"max_iter": True}, ValueError),
        ({"tolerance_grad": 0.0}, ValueError),
        ({"tolerance_change": float("nan")}, ValueError),
    ],
)
def test_bad_options_are_named(kwargs, exc):
    with pytest.raises(exc, match=next(iter(kwargs))):
        lbfgs_minimize(lambda v: (v**2).sum(), torch.zeros(2), **kwargs)


def test_bad_inputs():
    with pytest.raises(TypeError, match="loss_fn"):
        lbfgs_minimize(3, torch.zeros(2))
    with pytest.raises(ValueError, match="init"):
        lbfgs_minimize(lambda: torch.tensor(0.0))
    with pytest.raises(TypeError, match=r"init\[0\]"):
        lbfgs_minimize(lambda v: v.sum(), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="scalar"):
        lbfgs_minimize(lambda v: v**2, torch.zeros(2))
