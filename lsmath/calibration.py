"""Calibration metrics: reliability bins, ECE, Brier score, NLL, temperature scaling.

A classifier that outputs ``p = softmax(z)`` predicts ``Yhat = argmax_k p_k``
with *confidence* ``C = max_k p_k``. It is (top-label) calibrated when
``P(Y = Yhat | C = c) = c`` for every confidence ``c`` it outputs
(Guo et al., "On Calibration of Modern Neural Networks", ICML 2017).

Every function accepts torch tensors (any device, any float dtype, with or
without ``requires_grad``) and NumPy arrays; computations are done in float64
NumPy. Bad input raises ``ValueError`` / ``TypeError`` naming the argument.

Example:
    >>> import numpy as np
    >>> probs = np.array([[0.8, 0.2], [0.8, 0.2], [0.8, 0.2], [0.8, 0.2], [0.8, 0.2]])
    >>> labels = np.array([0, 0, 0, 0, 1])           # 4 of 5 right at confidence 0.8
    >>> round(expected_calibration_error(probs, labels), 12)
    0.0
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np

from ._optional import require
from ._validation import check_label_array, check_temperature, to_numpy

__all__ = [
    "CalibrationBins",
    "calibration_bins",
    "expected_calibration_error",
    "brier_score",
    "negative_log_likelihood",
    "fit_temperature",
    "temperature_nll",
    "calibration_metrics",
    "reliability_diagram",
]

#: Rows of ``probs`` must sum to 1 within this absolute tolerance (float32/64);
#: low-precision tensors get ``4 * eps`` of their dtype (bfloat16: 0.03), since
#: each probability is rounded to that precision.
SUM_TOLERANCE = 1e-3


def _sum_tolerance(x: object) -> float:
    """Row-sum tolerance for ``probs``: 1e-3, or ``4 * eps`` of a coarser float dtype."""
    dtype = getattr(x, "dtype", None)
    try:
        import torch

        if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
            return max(SUM_TOLERANCE, 4 * torch.finfo(dtype).eps)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(dtype, np.dtype) and np.issubdtype(dtype, np.floating):
        return max(SUM_TOLERANCE, 4 * float(np.finfo(dtype).eps))
    return SUM_TOLERANCE


# --------------------------------------------------------------------------- checks


def _check_matrix(x: object, name: str) -> np.ndarray:
    arr = to_numpy(x, name, arrays_only=True)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (N, K), got shape {arr.shape}")
    n, k = arr.shape
    if n < 1:
        raise ValueError(
            f"{name} must have at least one row (N >= 1), got shape {arr.shape}"
        )
    if k < 2:
        raise ValueError(
            f"{name} must have K >= 2 columns (classes), got shape {arr.shape}"
        )
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def _check_probs(probs: object) -> np.ndarray:
    p = _check_matrix(probs, "probs")
    if (p < 0).any() or (p > 1).any():
        raise ValueError(
            f"probs must lie in [0, 1], got min {p.min():.4g} and max {p.max():.4g} "
            "(did you pass logits? apply softmax first)"
        )
    tol = _sum_tolerance(probs)
    dev = np.abs(p.sum(axis=1) - 1.0)
    if (dev > tol).any():
        row = int(dev.argmax())
        raise ValueError(
            f"probs rows must sum to 1 (tolerance {tol:.3g} for dtype "
            f"{getattr(probs, 'dtype', 'float64')}); row {row} sums to {p[row].sum():.6g}: "
            "normalise the rows"
        )
    return p


def _check_n_bins(n_bins: object) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (Integral, np.integer)):
        raise TypeError(f"n_bins must be an integer >= 1, got {type(n_bins).__name__}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins}")
    return int(n_bins)


# --------------------------------------------------------------------------- bins and ECE


class CalibrationBins(NamedTuple):
    """Equal-width confidence bins of a reliability diagram.

    Attributes:
        edges: float64 ``(M + 1,)``, ``M = n_bins``: the bin edges
            ``0, 1/M, ..., 1`` (bin ``m`` is ``(edges[m], edges[m+1]]``; the
            first bin also holds confidence 0).
        counts: int64 ``(M,)``, the number of samples per bin.
        confidence: float64 ``(M,)``, the mean confidence per bin (NaN for an
            empty bin).
        accuracy: float64 ``(M,)``, the fraction of correct predictions per
            bin (NaN for an empty bin).
    """

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray


def _top_label(p: np.ndarray, y: np.ndarray):
    pred = p.argmax(axis=1)
    conf = p[np.arange(p.shape[0]), pred]
    return conf, (pred == y).astype(np.float64)


def _bin_confidences(
    conf: np.ndarray, correct: np.ndarray, n_bins: int
) -> CalibrationBins:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # side="left": index i with edges[i-1] < c <= edges[i], i.e. right-closed bins as in Guo et al.
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins).astype(np.int64)
    sum_conf = np.bincount(idx, weights=conf, minlength=n_bins)
    sum_acc = np.bincount(idx, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(counts > 0, sum_conf / counts, np.nan)
        mean_acc = np.where(counts > 0, sum_acc / counts, np.nan)
    return CalibrationBins(edges, counts, mean_conf, mean_acc)


def calibration_bins(probs, labels, n_bins: int = 15) -> CalibrationBins:
    """Per-bin counts, mean confidence and accuracy of the top-label prediction.

    The confidence ``c_i = max_k p_ik`` of sample ``i`` falls in bin
    ``B_m = ((m - 1)/M, m/M]``, ``m = 1..M`` (``M = n_bins``); for each bin
    ``conf(B_m) = mean_{i in B_m} c_i`` and ``acc(B_m) = mean_{i in B_m} 1[argmax_k p_ik = y_i]``.

    Args:
        probs: ``(N, K)`` probabilities (float tensor or array, rows summing
            to 1 within 1e-3; not logits), ``K >= 2``.
        labels: ``(N,)`` integer class indices in ``[0, K)``.
        n_bins: the number of equal-width bins ``M >= 1``; default 15.

    Returns:
        A :class:`CalibrationBins` with the ``M + 1`` edges and, per bin, the
        count, mean confidence and accuracy (NaN for an empty bin).

    Example:
        >>> b = calibration_bins(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]), n_bins=2)
        >>> b.counts.tolist(), b.accuracy.tolist()
        ([0, 2], [nan, 0.5])
    """
    n_bins = _check_n_bins(n_bins)
    p = _check_probs(probs)
    y = check_label_array(labels, *p.shape)
    conf, correct = _top_label(p, y)
    return _bin_confidences(conf, correct, n_bins)


def expected_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """Top-label expected calibration error with equal-width bins (Guo et al. 2017).

    Formula (``n`` samples, ``M = n_bins`` bins ``B_m = ((m - 1)/M, m/M]`` of the
    confidence ``max_k p_ik``)::

        ECE = sum_m (|B_m| / n) * |acc(B_m) - conf(B_m)|

    with ``acc`` the fraction of correct arg-max predictions and ``conf`` the
    mean confidence in the bin; empty bins contribute 0. ECE lies in ``[0, 1]``;
    it is 0 when every bin's accuracy equals its mean confidence. It equals
    ``torchmetrics.functional.classification.multiclass_calibration_error(...,
    norm="l1")`` except for confidences lying exactly on a bin edge (torchmetrics
    uses left-closed bins ``[lo, hi)`` and a separate bin for confidence 1).

    Args:
        probs: ``(N, K)`` probabilities (float tensor or array, rows summing
            to 1 within 1e-3; not logits), ``K >= 2``.
        labels: ``(N,)`` integer class indices in ``[0, K)``.
        n_bins: the number of equal-width bins ``M >= 1``; default 15, as in
            Guo et al.

    Returns:
        The ECE, a float in ``[0, 1]``.

    References:
        Guo, Pleiss, Sun, Weinberger, "On Calibration of Modern Neural Networks", ICML 2017.

    Example:
        >>> probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7]])
        >>> round(expected_calibration_error(probs, np.array([0, 1, 1])), 4)  # 2/3*0.4 + 1/3*0.3
        0.3667
    """
    b = calibration_bins(probs, labels, n_bins)
    n = b.counts.sum()
    filled = b.counts > 0
    gaps = np.abs(b.accuracy[filled] - b.confidence[filled])
    return float(np.sum(b.counts[filled] / n * gaps))


def brier_score(probs, labels) -> float:
    """Multiclass Brier score: mean over samples of ``sum_k (p_ik - onehot(y_i)_k)^2``.

    Formula::

        Brier = (1/N) sum_i sum_k (p_ik - 1[y_i = k])^2        (in [0, 2])

    This is the original multiclass definition (Brier 1950), *not* halved and
    not the binary score of the positive class only. It is a strictly proper
    scoring rule: its expectation is minimised by the true conditional
    distribution. 0 for a confident correct prediction, 2 for a confident wrong one.

    Args:
        probs: ``(N, K)`` probabilities (float tensor or array, rows summing
            to 1 within 1e-3; not logits), ``K >= 2``.
        labels: ``(N,)`` integer class indices in ``[0, K)``.

    Returns:
        The Brier score, a float in ``[0, 2]``.

    Example:
        >>> round(brier_score(np.array([[0.8, 0.2]]), np.array([0])), 4)
        0.08
    """
    p = _check_probs(probs)
    y = check_label_array(labels, *p.shape)
    onehot = np.zeros_like(p)
    onehot[np.arange(p.shape[0]), y] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def negative_log_likelihood(probs, labels) -> float:
    """Mean negative log-likelihood ``-(1/N) sum_i log p_{i, y_i}`` of probabilities.

    ``inf`` if a true class has probability 0. For logits prefer
    :func:`temperature_nll` (computed stably with log-sum-exp).

    Args:
        probs: ``(N, K)`` probabilities (float tensor or array, rows summing
            to 1 within 1e-3; not logits), ``K >= 2``.
        labels: ``(N,)`` integer class indices in ``[0, K)``.

    Returns:
        The mean NLL in nats, a float in ``[0, inf]``.

    Example:
        >>> round(negative_log_likelihood(np.array([[0.5, 0.5]]), np.array([1])), 4)
        0.6931
    """
    p = _check_probs(probs)
    y = check_label_array(labels, *p.shape)
    with np.errstate(divide="ignore"):
        return float(-np.mean(np.log(p[np.arange(p.shape[0]), y])))


# --------------------------------------------------------------------------- temperature scaling


def _log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    s = z - m
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def _nll_and_derivatives(z: np.ndarray, y: np.ndarray, beta: float):
    """NLL of ``softmax(beta z)`` and its first two derivatives in ``beta = 1/T``.

    ``g(beta) = mean_i [-beta z_i,y_i + logsumexp_k(beta z_ik)]``,
    ``g'(beta) = mean_i [E_p(z_i) - z_i,y_i]``, ``g''(beta) = mean_i Var_p(z_i) >= 0``.
    """
    logp = _log_softmax(beta * z)
    p = np.exp(logp)
    rows = np.arange(z.shape[0])
    mean_z = (p * z).sum(axis=1)
    var_z = (p * (z - mean_z[:, None]) ** 2).sum(axis=1)
    return -logp[rows, y].mean(), (mean_z - z[rows, y]).mean(), var_z.mean()


def temperature_nll(logits, labels, temperature: float = 1.0) -> float:
    """Mean NLL of ``softmax(logits / temperature)``: ``-(1/N) sum_i log softmax(z_i / T)_{y_i}``.

    Computed from the logits with log-sum-exp (finite even where a
    probability rounds to 0).

    Args:
        logits: ``(N, K)`` finite real logits (torch tensor or NumPy array),
            ``K >= 2``.
        labels: ``(N,)`` integer class indices in ``[0, K)``.
        temperature: ``T > 0``, finite; default 1 (the logits as they are).

    Returns:
        The mean NLL in nats, a float.

    Example:
        >>> round(temperature_nll(np.array([[2.0, 0.0]]), np.array([0]), 2.0), 4)
        0.3133
    """
    z = _check_matrix(logits, "logits")
    y = check_label_array(labels, *z.shape)
    t = check_temperature(temperature)
    return float(_nll_and_derivatives(z, y, 1.0 / t)[0])


def _check_tol(tol: object) -> float:
    if isinstance(tol, bool) or not isinstance(tol, (Real, np.floating, np.integer)):
        raise TypeError(
            f"tol must be a real number in (0, 1e-3], got {type(tol).__name__}"
        )
    value = float(tol)
    if not (math.isfinite(value) and 0 < value <= 1e-3):
        raise ValueError(f"tol must be a finite real number in (0, 1e-3], got {value}")
    return value


def _at_bound(value: float, which: str) -> float:
    warnings.warn(
        f"fit_temperature: the NLL optimum lies at or beyond the bound {which} = {value}; "
        f"returning the bound (labels unrelated to the logits, or all predictions correct?)",
        RuntimeWarning,
        stacklevel=3,
    )
    return value


def fit_temperature(
    logits, labels, *, bounds: tuple[float, float] = (0.01, 100.0), tol: float = 1e-10
) -> float:
    """Temperature ``T`` minimising the NLL of ``softmax(logits / T)`` (Guo et al. 2017).

    Fit it on held-out data (a validation split), then apply it to test logits.
    The NLL is *not* convex in ``T``, but it is convex in the inverse
    temperature ``beta = 1/T``::

        g(beta)   = (1/N) sum_i [ -beta z_{i,y_i} + log sum_k exp(beta z_ik) ]
        g'(beta)  = (1/N) sum_i [ E_{p_i}[z_i] - z_{i,y_i} ]      (p_i = softmax(beta z_i))
        g''(beta) = (1/N) sum_i Var_{p_i}[z_i]  >= 0

    so ``g'`` is non-decreasing and its root is the global minimiser. It is
    found by Newton's method on ``beta`` safeguarded by bisection inside
    ``[1/T_max, 1/T_min]``; when the root lies outside the bracket the nearer
    bound is returned (e.g. ``T_min`` when every prediction is correct, where
    the NLL decreases without limit as ``T -> 0``). Dividing logits by ``T``
    keeps the arg-max, so accuracy is unchanged.

    Args:
        logits: ``(N, K)`` finite real logits (torch tensor or NumPy array).
        labels: ``(N,)`` integer class indices in ``[0, K)``.
        bounds: ``(T_min, T_max)`` with ``0 < T_min < T_max``.
        tol: relative tolerance on ``beta``: stop when the bracket is narrower
            than ``tol * beta``; a finite real in ``(0, 1e-3]`` (larger values
            would change the answer).

    Returns:
        The fitted temperature (a float). When the optimum lies at or beyond a
        bound (e.g. labels unrelated to the logits, where the NLL keeps falling
        as ``T`` grows), the bound is returned with a ``RuntimeWarning``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z = 2.0 * rng.normal(size=(20000, 4))          # calibrated logits ...
        >>> p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        >>> y = (p.cumsum(axis=1) < rng.random((20000, 1))).sum(axis=1)  # ... labels drawn from p
        >>> round(fit_temperature(3.0 * z, y), 2)          # logits 3x too large: T near 3
        3.07
    """
    z = _check_matrix(logits, "logits")
    y = check_label_array(labels, *z.shape)
    try:
        t_min, t_max = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise TypeError(
            "bounds must be a pair of positive reals (T_min, T_max)"
        ) from None
    if not (math.isfinite(t_min) and math.isfinite(t_max) and 0 < t_min < t_max):
        raise ValueError(
            f"bounds must satisfy 0 < T_min < T_max (finite), got {bounds!r}"
        )
    tol = _check_tol(tol)
    lo, hi = 1.0 / t_max, 1.0 / t_min  # bracket on beta
    beta = min(max(1.0, lo), hi)
    g_tol = 1e-13 * (1.0 + float(np.abs(z).mean()))
    if abs(_nll_and_derivatives(z, y, beta)[1]) <= g_tol:
        return float(
            1.0 / beta
        )  # already optimal (e.g. constant logits: NLL flat in T)
    if _nll_and_derivatives(z, y, lo)[1] >= 0:
        return _at_bound(t_max, "T_max")
    if _nll_and_derivatives(z, y, hi)[1] <= 0:
        return _at_bound(t_min, "T_min")
    for _ in range(200):
        _, g1, g2 = _nll_and_derivatives(z, y, beta)
        if abs(g1) <= g_tol:
            break
        if g1 > 0:
            hi = beta
        else:
            lo = beta
        step = beta - g1 / g2 if g2 > 0 else math.nan
        if lo <= step <= hi and abs(step - beta) <= tol * beta:
            beta = step
            break
        # Newton step when it stays inside the bracket, else bisect.
        beta = step if lo < step < hi else 0.5 * (lo + hi)
        if hi - lo <= tol * beta:
            break
    return float(1.0 / beta)


# --------------------------------------------------------------------------- summaries and plot


def calibration_metrics(
    logits, labels, temperature: float = 1.0, n_bins: int = 15
) -> dict:
    """Accuracy, NLL, ECE and Brier score of ``softmax(logits / temperature)``.

    Args:
        logits: ``(N, K)`` finite real logits (torch tensor or NumPy array),
            ``K >= 2``.
        labels: ``(N,)`` integer class indices in ``[0, K)``.
        temperature: ``T > 0``, finite; default 1. Pass the output of
            :func:`fit_temperature` for temperature-scaled metrics.
        n_bins: the number of equal-width ECE bins ``M >= 1``; default 15.

    Returns:
        ``{"accuracy", "nll", "ece", "brier"}`` as floats.

    Example:
        >>> m = calibration_metrics(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 0]))
        >>> m["accuracy"]
        0.5
    """
    z = _check_matrix(logits, "logits")
    y = check_label_array(labels, *z.shape)
    t = check_temperature(temperature)
    n_bins = _check_n_bins(n_bins)
    logp = _log_softmax(z / t)
    p = np.exp(logp)
    return {
        "accuracy": float((p.argmax(axis=1) == y).mean()),
        "nll": float(-logp[np.arange(len(y)), y].mean()),
        "ece": expected_calibration_error(p, y, n_bins),
        "brier": brier_score(p, y),
    }


def reliability_diagram(
    probs,
    labels,
    n_bins: int = 15,
    ax=None,
    *,
    title: str | None = None,
    show_counts: bool = True,
):
    """Draw a reliability diagram: per-bin accuracy against confidence (Guo et al. 2017).

    Bars show ``acc(B_m)`` for each non-empty equal-width confidence bin; the
    red-hatched part between a bar top and the bin's mean confidence is the gap
    that ECE averages (bar above it: under-confident; below: over-confident).
    The dashed diagonal is perfect calibration. With ``show_counts`` a grey
    outline along the bottom shows the share of samples per bin (scaled).

    Args:
        probs: ``(N, K)`` probabilities (float tensor or array, rows summing
            to 1 within 1e-3; not logits), ``K >= 2``.
        labels: ``(N,)`` integer class indices in ``[0, K)``.
        n_bins: number of equal-width bins ``M >= 1``; default 15.
        ax: a Matplotlib Axes to draw on (a new figure is made when None).
        title: axes title; by default ``"ECE = ..."``.
        show_counts: draw the share of samples per bin along the bottom
            (default ``True``).

    Returns:
        The Matplotlib Axes.

    Example:
        >>> ax = reliability_diagram(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]), n_bins=5)
    """
    plt = require("matplotlib.pyplot", "reliability_diagram")

    b = calibration_bins(probs, labels, n_bins)
    ece = expected_calibration_error(probs, labels, n_bins)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    _draw_accuracy_bars(ax, b)
    if show_counts:
        share = b.counts / b.counts.sum()
        ax.stairs(
            0.15 * share / share.max(),
            b.edges,
            color="dimgrey",
            linewidth=1.2,
            zorder=4,
            label="share of samples (scaled)",
        )
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("confidence (max probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(title if title is not None else f"ECE = {ece:.3f}")
    return ax


def _draw_accuracy_bars(ax, b: CalibrationBins) -> None:
    """Per-bin accuracy bars and, hatched, their gaps to the mean confidence."""
    width = 1.0 / b.counts.size
    left = b.edges[:-1]
    filled = b.counts > 0
    ax.bar(
        left[filled],
        b.accuracy[filled],
        width=width,
        align="edge",
        color="tab:blue",
        alpha=0.85,
        edgecolor="black",
        linewidth=0.6,
        label="accuracy",
    )
    gap_bottom = np.minimum(b.accuracy, b.confidence)[filled]
    gap_height = np.abs(b.accuracy - b.confidence)[filled]
    ax.bar(
        left[filled],
        gap_height,
        bottom=gap_bottom,
        width=width,
        align="edge",
        facecolor="none",
        edgecolor="tab:red",
        hatch="////",
        linewidth=0.8,
        zorder=3,
        label="gap to mean confidence",
    )
