"""lsmath.calibration: ECE against torchmetrics and a loop implementation, Brier against
scikit-learn and a loop, temperature scaling against scipy and known temperatures,
hypothesis properties, and every kind of bad input."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import lsmath  # noqa: E402
from lsmath import (  # noqa: E402
    brier_score,
    calibration_bins,
    calibration_metrics,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_diagram,
    temperature_nll,
)

# ----------------------------------------------------------------------------- helpers


def softmax_np(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def random_case(n, k, *, seed, scale=2.0):
    rng = np.random.default_rng(seed)
    z = scale * rng.normal(size=(n, k))
    p = softmax_np(z)
    y = rng.integers(0, k, size=n)
    return z, p, y


def sample_labels(p, rng):
    """Labels drawn from each row of p (so p is calibrated by construction)."""
    return (
        (p.cumsum(axis=1) < rng.random((p.shape[0], 1)))
        .sum(axis=1)
        .clip(max=p.shape[1] - 1)
    )


def ece_loop(probs, labels, n_bins):
    """Independent, deliberately simple ECE (Guo et al. 2017): Python loops, right-closed bins."""
    n = len(labels)
    total = 0.0
    for m in range(n_bins):
        lo, hi = m / n_bins, (m + 1) / n_bins
        members = []
        for i in range(n):
            c = max(probs[i])
            in_bin = (lo < c <= hi) or (m == 0 and c == 0.0)
            if in_bin:
                members.append(i)
        if not members:
            continue
        acc = sum(1.0 for i in members if int(np.argmax(probs[i])) == labels[i]) / len(
            members
        )
        conf = sum(max(probs[i]) for i in members) / len(members)
        total += len(members) / n * abs(acc - conf)
    return total


def brier_loop(probs, labels):
    n, k = len(probs), len(probs[0])
    return (
        sum(
            sum((probs[i][j] - (1.0 if j == labels[i] else 0.0)) ** 2 for j in range(k))
            for i in range(n)
        )
        / n
    )


# ----------------------------------------------------------------------------- ECE


@pytest.mark.parametrize("n_bins", [1, 5, 10, 15, 30])
@pytest.mark.parametrize("k", [2, 3, 10])
@pytest.mark.parametrize("seed", [0, 1])
def test_ece_matches_torchmetrics(n_bins, k, seed):
    from torchmetrics.functional.classification import multiclass_calibration_error

    _, p, y = random_case(500, k, seed=seed)
    p32 = torch.tensor(p, dtype=torch.float32)
    ours = expected_calibration_error(p32, torch.tensor(y), n_bins=n_bins)
    theirs = multiclass_calibration_error(
        p32, torch.tensor(y), num_classes=k, n_bins=n_bins, norm="l1"
    )
    assert ours == pytest.approx(float(theirs), abs=1e-6)


def test_ece_matches_torchmetrics_on_overconfident_model():
    from torchmetrics.functional.classification import multiclass_calibration_error

    rng = np.random.default_rng(3)
    z = 2.0 * rng.normal(size=(2000, 10))
    y = sample_labels(softmax_np(z), rng)
    p = torch.tensor(softmax_np(3.0 * z), dtype=torch.float32)  # too sharp
    ours = expected_calibration_error(p, torch.tensor(y))
    theirs = float(
        multiclass_calibration_error(p, torch.tensor(y), num_classes=10, norm="l1")
    )
    assert ours == pytest.approx(theirs, abs=1e-6)
    assert ours > 0.05


@pytest.mark.parametrize("n_bins", [1, 3, 15])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ece_matches_loop_implementation(n_bins, seed):
    _, p, y = random_case(200, 4, seed=seed)
    assert expected_calibration_error(p, y, n_bins) == pytest.approx(
        ece_loop(p.tolist(), y.tolist(), n_bins), abs=1e-12
    )


def test_ece_bin_edges_are_right_closed_as_in_guo():
    # confidence exactly 0.5 belongs to bin (0.25, 0.5] with 4 bins; confidence 1 to the last bin
    probs = np.array([[0.5, 0.5], [1.0, 0.0], [0.75, 0.25]])
    b = calibration_bins(probs, np.array([0, 0, 1]), n_bins=4)
    assert b.counts.tolist() == [0, 1, 1, 1]
    assert expected_calibration_error(probs, np.array([0, 0, 1]), 4) == pytest.approx(
        ece_loop(probs.tolist(), [0, 0, 1], 4)
    )


def test_ece_one_bin_is_gap_between_mean_confidence_and_accuracy():
    _, p, y = random_case(300, 5, seed=4)
    acc = (p.argmax(1) == y).mean()
    assert expected_calibration_error(p, y, n_bins=1) == pytest.approx(
        abs(p.max(1).mean() - acc)
    )


def test_ece_zero_when_confident_and_right_one_when_confident_and_wrong():
    p = np.eye(4)[[0, 1, 2, 3]]
    assert expected_calibration_error(p, np.array([0, 1, 2, 3])) == 0.0
    assert expected_calibration_error(p, np.array([1, 2, 3, 0])) == 1.0


def test_calibration_bins_fields():
    _, p, y = random_case(400, 3, seed=5)
    b = calibration_bins(p, y, n_bins=10)
    assert b.edges.shape == (11,) and b.counts.sum() == 400
    filled = b.counts > 0
    assert np.all(b.confidence[filled] > b.edges[:-1][filled])
    assert np.all(b.confidence[filled] <= b.edges[1:][filled])
    assert np.all(np.isnan(b.accuracy[~filled]))


@st.composite
def prob_label_case(draw, max_n=60, max_k=6):
    n = draw(st.integers(1, max_n))
    k = draw(st.integers(2, max_k))
    seed = draw(st.integers(0, 2**32 - 1))
    concentration = draw(st.sampled_from([0.05, 0.5, 1.0, 5.0]))
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(k, concentration), size=n)
    y = rng.integers(0, k, size=n)
    return p, y


@settings(max_examples=150, deadline=None)
@given(prob_label_case(), st.integers(1, 40))
def test_property_ece_in_unit_interval_and_equal_to_loop(case, n_bins):
    p, y = case
    ece = expected_calibration_error(p, y, n_bins)
    assert 0.0 <= ece <= 1.0
    assert ece == pytest.approx(ece_loop(p.tolist(), y.tolist(), n_bins), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(2, 8),
    st.lists(st.tuples(st.integers(1, 30), st.integers(0, 30)), min_size=1, max_size=6),
    st.integers(1, 30),
)
def test_property_ece_zero_for_perfectly_calibrated_construction(k, groups, n_bins):
    """Groups of n samples at confidence c = m/n with exactly m correct: every bin's
    accuracy equals its mean confidence (also when groups share a bin), so ECE = 0."""
    rows, labels = [], []
    for n, m in groups:
        m = min(m, n)
        c = m / n
        if c <= 1.0 / k:  # the top class must be the arg-max: c > (1 - c)/(K - 1)
            continue
        other = (1.0 - c) / (k - 1)
        row = [c] + [other] * (k - 1)
        rows += [row] * n
        labels += [0] * m + [1] * (n - m)
    if not rows:
        return
    assert expected_calibration_error(np.array(rows), np.array(labels), n_bins) < 1e-12


def test_ece_near_zero_for_labels_drawn_from_probs():
    rng = np.random.default_rng(0)
    p = softmax_np(2.0 * rng.normal(size=(200_000, 5)))
    y = sample_labels(p, rng)
    assert expected_calibration_error(p, y) < 0.01
    assert (
        expected_calibration_error(softmax_np(3 * np.log(p)), y) > 0.1
    )  # sharpened: overconfident


# ----------------------------------------------------------------------------- Brier and NLL


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_brier_matches_loop_and_sklearn(seed):
    from sklearn.metrics import brier_score_loss

    _, p, y = random_case(100, 4, seed=seed)
    ours = brier_score(p, y)
    assert ours == pytest.approx(brier_loop(p.tolist(), y.tolist()), abs=1e-12)
    assert ours == pytest.approx(
        brier_score_loss(y, p, labels=list(range(4))), abs=1e-12
    )


@settings(max_examples=100, deadline=None)
@given(prob_label_case())
def test_property_brier_in_0_2_and_decomposes(case):
    p, y = case
    b = brier_score(p, y)
    assert 0.0 <= b <= 2.0
    # sum_k (p_k - e_y,k)^2 = 1 - 2 p_y + sum_k p_k^2
    expected = np.mean(1 - 2 * p[np.arange(len(y)), y] + (p**2).sum(1))
    assert b == pytest.approx(expected, abs=1e-12)


def test_brier_extremes():
    assert brier_score(np.eye(3), np.array([0, 1, 2])) == 0.0
    assert brier_score(np.eye(3), np.array([1, 2, 0])) == 2.0
    assert brier_score(np.full((1, 4), 0.25), np.array([2])) == pytest.approx(0.75)


def test_nll_matches_torch():
    z, p, y = random_case(50, 6, seed=7)
    ref = float(torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(y)))
    assert negative_log_likelihood(p, y) == pytest.approx(ref, rel=1e-10)
    assert temperature_nll(z, y) == pytest.approx(ref, rel=1e-10)
    ref2 = float(
        torch.nn.functional.cross_entropy(torch.tensor(z) / 2.5, torch.tensor(y))
    )
    assert temperature_nll(z, y, 2.5) == pytest.approx(ref2, rel=1e-10)
    assert negative_log_likelihood(np.array([[1.0, 0.0]]), np.array([1])) == math.inf


def test_calibration_metrics_consistent():
    z, p, y = random_case(300, 5, seed=8)
    m = calibration_metrics(
        torch.tensor(z, dtype=torch.float32), torch.tensor(y), temperature=1.7
    )
    q = softmax_np(z / 1.7)
    assert m["accuracy"] == pytest.approx((q.argmax(1) == y).mean())
    assert m["nll"] == pytest.approx(temperature_nll(z, y, 1.7), rel=1e-6)
    assert m["ece"] == pytest.approx(expected_calibration_error(q, y), abs=1e-6)
    assert m["brier"] == pytest.approx(brier_score(q, y), abs=1e-6)


# ----------------------------------------------------------------------------- temperature


@settings(max_examples=15, deadline=None)
@given(st.floats(0.25, 6.0), st.integers(0, 10_000), st.integers(2, 10))
def test_property_fit_temperature_recovers_known_scaling(t_true, seed, k):
    """Labels drawn from softmax(z) make z calibrated; the fitted T for z * t_true is ~ t_true."""
    rng = np.random.default_rng(seed)
    z = 2.0 * rng.normal(size=(20_000, k))
    y = sample_labels(softmax_np(z), rng)
    t_hat = fit_temperature(z * t_true, y)
    assert t_hat == pytest.approx(t_true, rel=0.1)
    # exact scale equivariance: fit(c z) = c fit(z)
    assert t_hat == pytest.approx(t_true * fit_temperature(z, y), rel=1e-6)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 8))
def test_property_temperature_one_when_already_calibrated(seed, k):
    rng = np.random.default_rng(seed)
    z = 1.5 * rng.normal(size=(50_000, k))
    y = sample_labels(softmax_np(z), rng)
    assert fit_temperature(z, y) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fit_temperature_matches_scipy_bounded_search(seed):
    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(seed)
    z = 3.0 * rng.normal(size=(500, 7))
    y = sample_labels(softmax_np(z / 2.0), rng)
    res = minimize_scalar(
        lambda lt: temperature_nll(z, y, math.exp(lt)),
        bounds=(-4, 4),
        method="bounded",
        options={"xatol": 1e-10},
    )
    t_hat = fit_temperature(z, y)
    assert t_hat == pytest.approx(math.exp(res.x), rel=1e-5)
    assert temperature_nll(z, y, t_hat) <= res.fun + 1e-12
    # first-order condition in beta = 1/T
    zt = torch.tensor(z, requires_grad=True)
    beta = torch.tensor(1.0 / t_hat, dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(beta * zt, torch.tensor(y))
    (g,) = torch.autograd.grad(loss, beta)
    assert abs(float(g)) < 1e-8


def test_fit_temperature_accepts_torch_float32_with_grad():
    rng = np.random.default_rng(0)
    z = 2.0 * rng.normal(size=(5000, 3))
    y = sample_labels(softmax_np(z), rng)
    zt = torch.tensor(2.0 * z, dtype=torch.float32, requires_grad=True)
    assert fit_temperature(zt, torch.tensor(y)) == pytest.approx(
        fit_temperature(2.0 * z, y), rel=1e-5
    )


def test_fit_temperature_bounds_and_edge_cases():
    # every prediction right: NLL decreases as T -> 0, so the lower bound is returned
    z = np.array([[3.0, 0.0], [0.0, 2.0]])
    with pytest.warns(
        RuntimeWarning, match="bound"
    ):  # issue 18: the bound is not silent
        assert fit_temperature(z, np.array([0, 1])) == 0.01
    with pytest.warns(RuntimeWarning, match="bound"):
        assert fit_temperature(z, np.array([0, 1]), bounds=(0.5, 4.0)) == 0.5
    # every prediction wrong: T -> infinity
    with pytest.warns(RuntimeWarning, match="bound"):
        assert fit_temperature(z, np.array([1, 0]), bounds=(0.5, 4.0)) == 4.0
    # constant logits: the NLL does not depend on T; T = 1 is returned
    assert fit_temperature(np.zeros((5, 3)), np.array([0, 1, 2, 0, 1])) == 1.0
    # temperature scaling keeps the arg-max: accuracy is unchanged
    zz, _, y = random_case(200, 4, seed=1)
    t = fit_temperature(zz, y)
    assert (
        calibration_metrics(zz, y, t)["accuracy"]
        == calibration_metrics(zz, y)["accuracy"]
    )


def test_fit_temperature_lowers_nll_of_overconfident_model():
    rng = np.random.default_rng(5)
    z = 2.0 * rng.normal(size=(4000, 10))
    y = sample_labels(softmax_np(z), rng)
    sharp = 2.5 * z
    t = fit_temperature(sharp, y)
    assert t > 2.0
    assert temperature_nll(sharp, y, t) < temperature_nll(sharp, y)
    assert (
        calibration_metrics(sharp, y, t)["ece"] < calibration_metrics(sharp, y)["ece"]
    )


# ----------------------------------------------------------------------------- plot


def test_reliability_diagram_returns_axes():
    _, p, y = random_case(300, 4, seed=0)
    fig, ax = plt.subplots()
    out = reliability_diagram(torch.tensor(p), torch.tensor(y), n_bins=10, ax=ax)
    assert out is ax
    assert ax.get_title().startswith("ECE = ")
    assert len(ax.patches) > 0
    plt.close(fig)
    ax2 = reliability_diagram(p, y, title="hello", show_counts=False)
    assert ax2.get_title() == "hello"
    plt.close(ax2.figure)


def test_exported_at_top_level():
    for name in [
        "expected_calibration_error",
        "brier_score",
        "fit_temperature",
        "reliability_diagram",
    ]:
        assert name in lsmath.__all__ and callable(getattr(lsmath, name))


# ----------------------------------------------------------------------------- bad input

GOOD_P = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
GOOD_Y = np.array([0, 2])
GOOD_Z = np.array([[1.0, 0.0, -1.0], [0.0, 0.5, 2.0]])
PROBABILITY_METRICS = [
    expected_calibration_error,
    brier_score,
    negative_log_likelihood,
    calibration_bins,
]


@pytest.mark.parametrize("fn", PROBABILITY_METRICS)
@pytest.mark.parametrize(
    "probs, exc, match",
    [
        (
            np.array([[0.7, 0.2, 0.2], [0.1, 0.3, 0.6]]),
            ValueError,
            "probs rows must sum to 1",
        ),
        (GOOD_Z, ValueError, "probs"),  # logits instead of probabilities
        (
            np.array([[1.2, -0.2, 0.0], [0.1, 0.3, 0.6]]),
            ValueError,
            r"probs must lie in \[0, 1\]",
        ),
        (
            np.array([[np.nan, 0.5, 0.5], [0.1, 0.3, 0.6]]),
            ValueError,
            "probs must be finite",
        ),
        (np.array([0.7, 0.2, 0.1]), ValueError, r"probs must have shape \(N, K\)"),
        (np.ones((2, 1)), ValueError, "K >= 2"),
        (np.zeros((0, 3)), ValueError, "at least one row"),
        (
            np.array([["a", "b", "c"], ["d", "e", "f"]]),
            TypeError,
            "probs must hold real numbers",
        ),
        ("0.5, 0.5", TypeError, "probs must be a torch.Tensor or a NumPy array"),
    ],
)
def test_bad_probs(fn, probs, exc, match):
    with pytest.raises(exc, match=match):
        fn(probs, GOOD_Y)


@pytest.mark.parametrize("fn", PROBABILITY_METRICS)
@pytest.mark.parametrize(
    "labels, exc, match",
    [
        (np.array([0, 3]), ValueError, r"labels must lie in \[0, K\) = \[0, 3\)"),
        (np.array([-1, 0]), ValueError, "labels must lie in"),
        (np.array([0, 1, 2]), ValueError, "length mismatch"),
        (np.array([0.0, 2.0]), TypeError, "labels must hold integer class indices"),
        (np.array([True, False]), TypeError, "labels must hold integer"),
        (np.array([[0, 2]]), ValueError, r"labels must have shape \(N,\)"),
        (torch.tensor([0, 5]), ValueError, "labels must lie in"),
    ],
)
def test_bad_labels(fn, labels, exc, match):
    with pytest.raises(exc, match=match):
        fn(GOOD_P, labels)


@pytest.mark.parametrize(
    "n_bins, exc",
    [
        (0, ValueError),
        (-3, ValueError),
        (2.5, TypeError),
        (True, TypeError),
        ("15", TypeError),
        (None, TypeError),
    ],
)
def test_bad_n_bins(n_bins, exc):
    with pytest.raises(exc, match="n_bins must be an integer >= 1"):
        expected_calibration_error(GOOD_P, GOOD_Y, n_bins=n_bins)
    with pytest.raises(exc, match="n_bins"):
        calibration_metrics(GOOD_Z, GOOD_Y, n_bins=n_bins)


@pytest.mark.parametrize("fn", [fit_temperature, temperature_nll, calibration_metrics])
@pytest.mark.parametrize(
    "logits, labels, exc, match",
    [
        (
            np.array([[np.inf, 0.0, 0.0], [0.0, 0.5, 2.0]]),
            GOOD_Y,
            ValueError,
            "logits must be finite",
        ),
        (
            np.array([[np.nan, 0.0, 0.0], [0.0, 0.5, 2.0]]),
            GOOD_Y,
            ValueError,
            "logits must be finite",
        ),
        (
            torch.tensor([[float("inf"), 0.0, 0.0], [0.0, 0.5, 2.0]]),
            GOOD_Y,
            ValueError,
            "logits must be finite",
        ),
        (GOOD_Z, np.array([0, 1, 2]), ValueError, "length mismatch"),
        (GOOD_Z, np.array([0, 3]), ValueError, "labels must lie in"),
        (GOOD_Z[0], GOOD_Y, ValueError, r"logits must have shape \(N, K\)"),
        ([1, 2], GOOD_Y, ValueError, "logits must have shape"),
        (None, GOOD_Y, TypeError, "logits must be a torch.Tensor or a NumPy array"),
    ],
)
def test_bad_logits(fn, logits, labels, exc, match):
    with pytest.raises(exc, match=match):
        fn(logits, labels)


@pytest.mark.parametrize(
    "bounds, exc",
    [
        ((1.0, 0.5), ValueError),
        ((0.0, 2.0), ValueError),
        ((-1.0, 2.0), ValueError),
        ((0.1, math.inf), ValueError),
        ((0.1,), TypeError),
        (None, TypeError),
    ],
)
def test_bad_bounds(bounds, exc):
    with pytest.raises(exc, match="bounds"):
        fit_temperature(GOOD_Z, GOOD_Y, bounds=bounds)


@pytest.mark.parametrize(
    "temperature, exc",
    [
        (0.0, ValueError),
        (-1.0, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        ("2", TypeError),
        (True, TypeError),
    ],
)
def test_bad_temperature(temperature, exc):
    with pytest.raises(exc, match="temperature must be a positive"):
        temperature_nll(GOOD_Z, GOOD_Y, temperature)
    with pytest.raises(exc, match="temperature"):
        calibration_metrics(GOOD_Z, GOOD_Y, temperature)


def test_reliability_diagram_rejects_bad_input():
    with pytest.raises(ValueError, match="n_bins"):
        reliability_diagram(GOOD_P, GOOD_Y, n_bins=0)
    with pytest.raises(ValueError, match="probs rows must sum to 1"):
        reliability_diagram(GOOD_P * 0.5, GOOD_Y)
    with pytest.raises(ValueError, match="did you pass logits"):
        reliability_diagram(GOOD_Z, GOOD_Y)
