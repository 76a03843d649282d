"""lsmath.replicates against SciPy's t distribution and direct formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from lsmath.replicates import paired_interval, summarize_seeds, t_quantile


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 5, 8, 13, 30, 100])
@pytest.mark.parametrize("prob", [0.5, 0.8, 0.9, 0.975, 0.995])
def test_t_quantile_matches_scipy(dof, prob):
    assert t_quantile(prob, dof) == pytest.approx(stats.t.ppf(prob, dof), abs=1e-9)


def test_paired_interval_matches_scipy_t_interval():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1.0, 6), rng.normal(0.0, 1.0, 6)
    iv = paired_interval(a, b, confidence=0.9)
    d = a - b
    low, high = stats.t.interval(0.9, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert (iv.low, iv.high) == pytest.approx((low, high), abs=1e-10)
    assert iv.mean == pytest.approx(d.mean())


def test_verdicts():
    assert paired_interval([2, 2.1, 1.9], [1, 1, 1]).verdict == "a > b"
    assert paired_interval([1, 1, 1], [2, 2.1, 1.9]).verdict == "a < b"
    # a large spread: the sign of the mean is not robust
    assert paired_interval([3, -2, 0.5], [0, 0, 0]).verdict == "not robust"


def test_summary():
    s = summarize_seeds([1.0, 2.0, 4.0])
    assert s.mean == pytest.approx(7 / 3) and s.n == 3
    assert s.std == pytest.approx(math.sqrt(np.var([1, 2, 4], ddof=1)))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: paired_interval([1.0], [2.0]), "at least two"),
        (lambda: paired_interval([1, 2], [1, 2, 3]), "pair"),
        (lambda: paired_interval([1, 2], [1, 2], confidence=1.5), "confidence"),
        (lambda: paired_interval([[1, 2]], [[1, 2]]), "one-dimensional"),
        (lambda: summarize_seeds([1.0, float("nan")]), "finite"),
        (lambda: t_quantile(0.2, 3), "prob"),
        (lambda: t_quantile(0.9, 0), "dof"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
