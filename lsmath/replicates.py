"""Conclusions over seeds: summaries and intervals that hold on any machine.

A small training run is chaotic: the last bit of one kernel (another CPU
instruction set, another thread count) changes the trained model. A chapter
therefore never asserts a per-seed inequality of a small effect. It asserts
on the *mean over seeds* with a margin taken from their spread: a Student-t
interval of the paired differences (same seed, same data, two treatments).
What does not clear that bar is reported as not robust at this scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "SeedSummary",
    "PairedInterval",
    "summarize_seeds",
    "paired_interval",
    "t_quantile",
]


@dataclass(frozen=True)
class SeedSummary:
    """Mean, sample standard deviation and count of one quantity over seeds.

    Attributes:
        mean: the mean over the seeds.
        std: the sample standard deviation (``ddof=1``).
        n: the number of seeds.
    """

    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.3g} ± {self.std:.2g} (n={self.n})"


@dataclass(frozen=True)
class PairedInterval:
    r"""Mean paired difference :math:`\bar\Delta` of ``a - b`` and its two-sided t interval.

    Attributes:
        mean: the mean difference :math:`\bar\Delta`.
        low: the lower end of the interval.
        high: the upper end of the interval.
        n: the number of pairs (seeds).
        confidence: the confidence level, e.g. 0.95.
    """

    mean: float
    low: float
    high: float
    n: int
    confidence: float

    @property
    def positive(self) -> bool:
        """True when the whole interval lies above zero (``a`` robustly larger)."""
        return self.low > 0

    @property
    def negative(self) -> bool:
        """True when the whole interval lies below zero (``a`` robustly smaller)."""
        return self.high < 0

    @property
    def verdict(self) -> str:
        """``"a > b"``, ``"a < b"`` or ``"not robust"``."""
        return "a > b" if self.positive else "a < b" if self.negative else "not robust"

    def __str__(self) -> str:
        return f"{self.mean:+.3g} [{self.low:+.3g}, {self.high:+.3g}] (n={self.n})"


def _as_1d(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be one-dimensional (one value per seed), got shape {arr.shape}"
        )
    if arr.size < 2:
        raise ValueError(f"{name} needs at least two seeds, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def t_quantile(prob: float, dof: int) -> float:
    r"""Quantile of Student's t distribution with ``dof`` degrees of freedom.

    The :math:`t` with :math:`P(T_\nu \le t) = ` ``prob`` for
    :math:`\nu` = ``dof``, found by bisection on the closed-form t
    distribution function for integer :math:`\nu` (no SciPy needed); agrees
    with ``scipy.stats.t.ppf`` to :math:`10^{-10}`.

    Args:
        prob: the probability, in :math:`[0.5, 1)`.
        dof: the degrees of freedom :math:`\nu`, a positive integer.

    Returns:
        The quantile :math:`t_{\nu,\,\text{prob}} \ge 0`, a float.

    Example:
        >>> round(t_quantile(0.975, 4), 4)
        2.7764
    """
    if not 0.5 <= prob < 1:
        raise ValueError(f"prob must lie in [0.5, 1), got {prob!r}")
    if isinstance(dof, bool) or not isinstance(dof, int) or dof < 1:
        raise ValueError(f"dof must be a positive integer, got {dof!r}")

    def upper_tail(t: float) -> float:
        # P(T > t) = I_{dof/(dof+t^2)}(dof/2, 1/2) / 2, by a midpoint-rule-free series:
        # use the closed forms of the t CDF for integer dof (exact, no special functions).
        theta = math.atan(t / math.sqrt(dof))
        if dof % 2 == 1:
            s, term = 0.0, math.cos(theta)
            if dof > 1:
                s = term
                for k in range(3, dof, 2):
                    term *= math.cos(theta) ** 2 * (k - 1) / k
                    s += term
            cdf_sym = (2 / math.pi) * (theta + math.sin(theta) * s)
        else:
            s, term = 1.0, 1.0
            for k in range(2, dof, 2):
                term *= math.cos(theta) ** 2 * (k - 1) / k
                s += term
            cdf_sym = math.sin(theta) * s
        return (1 - cdf_sym) / 2

    lo, hi = 0.0, 1.0
    while upper_tail(hi) > 1 - prob:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if upper_tail(mid) > 1 - prob:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def summarize_seeds(values: Sequence[float] | np.ndarray) -> SeedSummary:
    """Mean and sample standard deviation (``ddof=1``) of per-seed values.

    Args:
        values: one value per seed (at least two), finite; a 1-d sequence or
            array.

    Returns:
        A :class:`SeedSummary` (mean, sample standard deviation, number of
        seeds).

    Example:
        >>> str(summarize_seeds([1.0, 2.0, 3.0]))
        '2 ± 1 (n=3)'
    """
    arr = _as_1d(values, "values")
    return SeedSummary(float(arr.mean()), float(arr.std(ddof=1)), int(arr.size))


def paired_interval(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
) -> PairedInterval:
    r"""Two-sided Student-t interval for the mean of the paired differences ``a - b``.

    ``a[i]`` and ``b[i]`` come from the same seed (same data split and
    initialisation), so the pairing removes what the seeds share. With
    :math:`\Delta_i = a_i - b_i` over :math:`n` seeds, the interval is

    .. math:: \bar\Delta \pm t_{n-1,\,(1+c)/2}\, \frac{s_\Delta}{\sqrt n},

    :math:`s_\Delta` the sample standard deviation and :math:`c` the
    confidence. A claim "``a`` exceeds ``b``" is asserted as
    ``paired_interval(a, b).positive``: the whole interval lies above zero.

    Args:
        a: one value per seed under the first treatment.
        b: one value per seed under the second, in the same seed order.
        confidence: the confidence level :math:`c`, in :math:`(0, 1)`; default
            0.95.

    Returns:
        A :class:`PairedInterval`: :math:`\bar\Delta`, the interval's ends,
        :math:`n` and :math:`c`; its ``positive``, ``negative`` and ``verdict``
        say whether the interval excludes zero.

    Example:
        >>> iv = paired_interval([3.0, 3.2, 2.9, 3.1], [1.0, 1.1, 1.2, 0.9])
        >>> iv.positive, round(iv.mean, 2)
        (True, 2.0)
    """
    a_arr, b_arr = _as_1d(a, "a"), _as_1d(b, "b")
    if a_arr.shape != b_arr.shape:
        raise ValueError(
            f"a and b must pair one value per seed, got {a_arr.size} and {b_arr.size}"
        )
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    diff = a_arr - b_arr
    n = diff.size
    half = (
        t_quantile(0.5 + confidence / 2, n - 1) * float(diff.std(ddof=1)) / math.sqrt(n)
    )
    mean = float(diff.mean())
    return PairedInterval(mean, mean - half, mean + half, n, confidence)
