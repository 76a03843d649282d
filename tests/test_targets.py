"""smooth_targets and the conversion between the two conventions."""

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lsmath
from lsmath import alpha_from_eps, eps_from_alpha, smooth_targets


@settings(max_examples=100, deadline=None)
@given(
    k=st.integers(2, 50),
    alpha=st.floats(0.0, 1.0),
    convention=st.sampled_from(["uniform", "off_target"]),
    targets=st.lists(st.integers(0, 1000), min_size=1, max_size=20),
)
def test_property_rows_are_distributions(k, alpha, convention, targets):
    t = torch.tensor([v % k for v in targets])
    y = smooth_targets(t, k, alpha, convention).double()
    assert y.shape == (len(targets), k)
    torch.testing.assert_close(y.sum(1), torch.ones(len(targets), dtype=torch.float64))
    assert (y >= 0).all()
    assert (y.argmax(1) == t).all() or alpha >= (
        k - 1
    ) / k  # true class keeps the most mass


def test_both_conventions_known_values():
    t = torch.tensor([0])
    torch.testing.assert_close(
        smooth_targets(t, 3, 0.1, "off_target"), torch.tensor([[0.9, 0.05, 0.05]])
    )
    torch.testing.assert_close(
        smooth_targets(t, 3, 0.1, "uniform"),
        torch.tensor([[1 - 0.1 + 0.1 / 3, 0.1 / 3, 0.1 / 3]]),
    )


@settings(max_examples=60, deadline=None)
@given(k=st.integers(2, 100), eps=st.floats(0.0, 1.0))
def test_property_conversion_round_trip_and_same_targets(k, eps):
    a = alpha_from_eps(eps, k)
    assert np.isclose(eps_from_alpha(min(a, 1.0), k), min(eps, (k - 1) / k))
    if a <= 1:
        t = torch.arange(k)
        torch.testing.assert_close(
            smooth_targets(t, k, a, "uniform"), smooth_targets(t, k, eps, "off_target")
        )


def test_conversion_symbolic():
    eps, K = sp.symbols("epsilon K", positive=True)
    a = eps * K / (K - 1)
    y_u = lsmath.symbolic.smoothed_target(a, K, "uniform")
    y_o = lsmath.symbolic.smoothed_target(eps, K, "off_target")
    assert all(sp.simplify(u - o) == 0 for u, o in zip(y_u, y_o))


def test_conversion_arrays():
    np.testing.assert_allclose(alpha_from_eps(np.array([0.0, 0.5]), 3), [0.0, 0.75])


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan")])
def test_bad_smoothing(bad):
    if bad <= 1:  # negative label smoothing is a valid target (Wei et al. 2022)
        smooth_targets(torch.tensor([0]), 3, bad)
    else:
        with pytest.raises(ValueError, match="alpha"):
            smooth_targets(torch.tensor([0]), 3, bad)
    with pytest.raises(ValueError, match="eps"):
        alpha_from_eps(bad, 3)
    with pytest.raises(ValueError, match="alpha"):
        eps_from_alpha(bad, 3)


def test_bad_targets_and_classes():
    with pytest.raises(ValueError, match="target values"):
        smooth_targets(torch.tensor([3]), 3, 0.1)
    with pytest.raises(ValueError, match="target values"):
        smooth_targets(torch.tensor([-1]), 3, 0.1)
    with pytest.raises(TypeError, match="target"):
        smooth_targets(torch.tensor([0.5]), 3, 0.1)
    # K = 1: the only distribution is [1] (uniform convention); off_target needs K >= 2
    assert smooth_targets(torch.tensor([0]), 1, 0.1).tolist() == [[1.0]]
    with pytest.raises(ValueError, match="num_classes"):
        smooth_targets(torch.tensor([0]), 1, 0.1, convention="off_target")
    with pytest.raises(ValueError, match="num_classes"):
        smooth_targets(torch.tensor([0]), 0, 0.1)
    with pytest.raises(TypeError, match="num_classes"):
        smooth_targets(torch.tensor([0]), 2.5, 0.1)
    with pytest.raises(ValueError, match="convention"):
        smooth_targets(torch.tensor([0]), 3, 0.1, convention="other")
    with pytest.raises(ValueError, match="num_classes"):
        alpha_from_eps(0.1, 1)
