"""lsmath.geometry: LS logistic loss and gradient descent against PyTorch autograd,
the exact 2-D max-margin direction against a grid and a QP solver, the
template-plane projection and cluster tightness against their definitions."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lsmath
from lsmath.data import make_separable_2d
from lsmath.geometry import (
    binary_ls_logistic_loss,
    centroid_distances,
    cluster_tightness,
    logistic_gd,
    margin_spread,
    max_margin_direction_2d,
    template_plane_basis,
    template_plane_projection,
    wrong_class_gaps,
)

# --- the binary LS logistic loss and gradient descent -------------------------------------


@pytest.mark.parametrize("convention", ["uniform", "off_target"])
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.4])
def test_binary_loss_is_the_ls_cross_entropy_of_two_logits(alpha, convention):
    m = torch.linspace(-30, 30, 61, dtype=torch.float64)
    logits = torch.stack([m, torch.zeros_like(m)], dim=1)  # true class first, gap m
    ref = lsmath.ls_cross_entropy(
        logits,
        torch.zeros(61, dtype=torch.long),
        alpha,
        convention=convention,
        reduction="none",
    )
    np.testing.assert_allclose(
        binary_ls_logistic_loss(m.numpy(), alpha, convention),
        ref.numpy(),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize("convention", ["uniform", "off_target"])
def test_binary_loss_is_minimised_at_the_optimal_gap(convention):
    m = np.linspace(-10, 10, 200001)
    vals = binary_ls_logistic_loss(m, 0.1, convention)
    assert abs(m[np.argmin(vals)] - lsmath.optimal_logit_gap(0.1, 2, convention)) < 2e-4


def _torch_gd(x, y, alpha, steps, lr, w0):
    w = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
    xt = torch.as_tensor(x, dtype=torch.float64)
    tgt = 1 - torch.as_tensor(
        y, dtype=torch.long
    )  # column 0 holds the logit of class 1
    for _ in range(steps):
        z = torch.stack([xt @ w, torch.zeros(len(xt), dtype=torch.float64)], dim=1)
        (g,) = torch.autograd.grad(lsmath.ls_cross_entropy(z, tgt, alpha), w)
        with torch.no_grad():
            w -= lr * g
    return w.detach().numpy()


@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_gd_matches_autograd(alpha):
    x, y = make_separable_2d(40, seed=3)
    path = logistic_gd(
        x, y, steps=25, alpha=alpha, lr=0.7, w0=[0.3, -0.2], record_at=[25]
    )
    np.testing.assert_allclose(
        path.weights[-1],
        _torch_gd(x, y, alpha, 25, 0.7, [0.3, -0.2]),
        rtol=1e-10,
        atol=1e-12,
    )


def test_gd_accepts_plus_minus_one_labels_and_records_the_schedule():
    x, y = make_separable_2d(30, seed=1)
    a = logistic_gd(x, y, steps=100, record_at=[0, 7, 100, 7])
    b = logistic_gd(x, 2 * y.numpy() - 1, steps=100, record_at=[0, 7, 100])
    assert a.steps.tolist() == [0, 7, 100]
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.weights[0], [0.0, 0.0])
    assert logistic_gd(x, y, steps=1000).steps.tolist() == [0, 1, 10, 100, 1000]


def test_hard_norm_keeps_growing_while_ls_converges_to_the_stationary_point():
    x, y = make_separable_2d(60, seed=2)
    hard = logistic_gd(x, y, steps=20000, record_at=[1000, 10000, 20000])
    assert np.all(np.diff(hard.norms) > 0.1)
    ls = logistic_gd(x, y, steps=5000, alpha=0.1, record_at=[4000, 5000])
    np.testing.assert_allclose(ls.weights[0], ls.weights[1], atol=1e-10)
    # stationarity of the mean LS loss: mean (sigmoid(m_i) - c) y_i x_i = 0
    s = np.where(y.numpy() > 0, 1.0, -1.0)
    a_pts = x.numpy() * s[:, None]
    m = a_pts @ ls.weights[-1]
    c = lsmath.smoothed_target_values(0.1, 2)[0]
    grad = ((1 / (1 + np.exp(-m)) - c)[:, None] * a_pts).mean(axis=0)
    assert np.abs(grad).max() < 1e-10


def test_gd_rejects_bad_input():
    x, y = make_separable_2d(10, seed=0)
    with pytest.raises(ValueError, match="steps"):
        logistic_gd(x, y, steps=-1)
    with pytest.raises(ValueError, match="lr"):
        logistic_gd(x, y, steps=1, lr=0.0)
    with pytest.raises(ValueError, match="record_at"):
        logistic_gd(x, y, steps=5, record_at=[6])
    with pytest.raises(ValueError, match="y must hold binary labels"):
        logistic_gd(x, y.numpy() + 2, steps=1)
    with pytest.raises(ValueError, match="alpha"):
        logistic_gd(x, y, steps=1, alpha=1.5)
    with pytest.raises(ValueError, match="convention"):
        logistic_gd(x, y, steps=1, alpha=0.1, convention="smooth")
    with pytest.raises(ValueError, match="shape"):
        logistic_gd(x, y[:5], steps=1)


# --- max-margin direction ----------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_max_margin_beats_a_fine_grid_and_matches_a_qp(seed):
    from scipy.optimize import minimize

    x, y = make_separable_2d(50, seed=seed)
    x = x.numpy() @ np.array([[2.0, 0.3], [0.0, 0.5]])
    u, gamma = max_margin_direction_2d(x, y)
    assert np.isclose(np.linalg.norm(u), 1.0)
    s = np.where(y.numpy() > 0, 1.0, -1.0)
    a_pts = x * s[:, None]
    assert np.isclose((a_pts @ u).min(), gamma)
    theta = np.linspace(0, 2 * np.pi, 200001)
    grid = (np.stack([np.cos(theta), np.sin(theta)], 1) @ a_pts.T).min(axis=1)
    assert gamma >= grid.max() - 1e-12 and gamma - grid.max() < 1e-4
    # hard-margin SVM through the origin: min ||w||^2 s.t. a_i . w >= 1  ->  w = u / gamma
    res = minimize(
        lambda w: w @ w,
        u,
        jac=lambda w: 2 * w,
        method="SLSQP",
        constraints=[
            {"type": "ineq", "fun": lambda w: a_pts @ w - 1, "jac": lambda w: a_pts}
        ],
    )
    np.testing.assert_allclose(res.x, u / gamma, rtol=1e-5)


def test_max_margin_simple_case_and_errors():
    x = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 0.0]])
    u, gamma = max_margin_direction_2d(x, np.array([1, 1, 0]))
    np.testing.assert_allclose(u, [1.0, 0.0], atol=1e-12)
    assert np.isclose(gamma, 1.0)
    with pytest.raises(ValueError, match="not separable"):
        max_margin_direction_2d(np.array([[1.0, 0.0], [2.0, 0.0]]), np.array([1, 0]))
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        max_margin_direction_2d(np.ones((3, 3)), np.array([1, 0, 1]))


# --- template plane, tightness ------------------------------------------------------------


def test_basis_is_orthonormal_and_spans_the_template_differences():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(10, 32))
    q = template_plane_basis(w, (3, 5, 8))
    np.testing.assert_allclose(q.T @ q, np.eye(2), atol=1e-12)
    for k in (5, 8):  # w_k - w_3 lies in the plane: projecting it changes nothing
        diff = w[k] - w[3]
        np.testing.assert_allclose(q @ (q.T @ diff), diff, atol=1e-12)
    coords = template_plane_projection(w[[3, 5, 8]], w, (3, 5, 8))
    np.testing.assert_allclose(coords[0], [0.0, 0.0], atol=1e-12)
    assert (
        coords[1, 1] == pytest.approx(0.0, abs=1e-12)
        and coords[1, 0] > 0
        and coords[2, 1] > 0
    )
    # distances between templates are preserved (they lie in the plane)
    assert np.isclose(
        np.linalg.norm(coords[1] - coords[2]), np.linalg.norm(w[5] - w[8])
    )


def test_projection_ignores_directions_orthogonal_to_the_plane_and_sees_logit_gaps():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(5, 20))
    h = rng.normal(size=(7, 20))
    q = template_plane_basis(w, (0, 1, 2))
    ortho = rng.normal(size=(7, 20))
    ortho -= ortho @ q @ q.T
    np.testing.assert_allclose(
        template_plane_projection(h + ortho, w, (0, 1, 2)),
        template_plane_projection(h, w, (0, 1, 2)),
        atol=1e-12,
    )
    # logit differences z_b - z_a = (w_b - w_a) . h are recovered from the 2-D coordinates
    # (which are measured from w_a: h - w_a = c Q^T + orthogonal part)
    c = template_plane_projection(h, w, (0, 1, 2))
    wc = template_plane_projection(w, w, (0, 1, 2))
    np.testing.assert_allclose(
        c @ (wc[1] - wc[0]) + w[0] @ (w[1] - w[0]), h @ (w[1] - w[0]), atol=1e-10
    )


def test_plane_rejects_bad_input():
    w = np.random.default_rng(0).normal(size=(4, 6))
    with pytest.raises(ValueError, match="three distinct"):
        template_plane_basis(w, (0, 0, 1))
    with pytest.raises(ValueError, match=r"\[0, K\)"):
        template_plane_basis(w, (0, 1, 4))
    collinear = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    with pytest.raises(ValueError, match="collinear"):
        template_plane_basis(collinear, (0, 1, 2))
    with pytest.raises(ValueError, match="features"):
        template_plane_projection(np.ones((3, 5)), w, (0, 1, 2))


def test_tightness_on_a_known_configuration():
    # two classes, each two points at distance 1 from its centroid; centroids 4 apart
    coords = np.array([[-1.0, 0.0], [1.0, 0.0], [4.0, 1.0], [4.0, -1.0]])
    labels = np.array([0, 0, 1, 1])
    assert np.isclose(cluster_tightness(coords, labels), 1.0 / 4.0)
    np.testing.assert_allclose(centroid_distances(coords, labels), [4.0])


@settings(max_examples=30, deadline=None)
@given(
    scale=st.floats(0.01, 100.0),
    shift=st.floats(-50.0, 50.0),
    seed=st.integers(0, 1000),
)
def test_tightness_is_invariant_to_scale_shift_and_rotation(scale, shift, seed):
    rng = np.random.default_rng(seed)
    coords = rng.normal(size=(30, 2)) + np.repeat(
        rng.normal(size=(3, 2)) * 5, 10, axis=0
    )
    labels = np.repeat([0, 1, 2], 10)
    theta = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    ref = cluster_tightness(coords, labels)
    assert np.isclose(
        cluster_tightness(scale * coords @ rot + shift, labels), ref, rtol=1e-9
    )


def test_tightness_rejects_a_single_class():
    with pytest.raises(ValueError, match="two classes"):
        cluster_tightness(np.zeros((4, 2)), np.zeros(4, dtype=int))


# --- margins across wrong classes -----------------------------------------------------------


@pytest.mark.parametrize("convention", ["uniform", "off_target"])
def test_margin_spread_vanishes_at_the_ls_minimiser(convention):
    k, alpha = 7, 0.2
    gap = lsmath.optimal_logit_gap(alpha, k, convention)
    labels = np.array([0, 3, 6])
    z = np.zeros((3, k))
    z[np.arange(3), labels] = gap
    z += np.array([[1.0], [-2.0], [5.0]])  # a shift per row changes nothing
    np.testing.assert_allclose(wrong_class_gaps(z, labels), gap)
    np.testing.assert_allclose(margin_spread(z, labels), 0.0, atol=1e-24)


def test_wrong_class_gaps_definition_and_errors():
    z = torch.tensor([[3.0, 1.0, -1.0], [0.0, 2.0, 5.0]])
    np.testing.assert_allclose(
        wrong_class_gaps(z, torch.tensor([0, 2])), [[2.0, 4.0], [5.0, 3.0]]
    )
    np.testing.assert_allclose(margin_spread(z, [0, 2]), [1.0, 1.0])
    with pytest.raises(ValueError, match="labels must lie"):
        wrong_class_gaps(z, [0, 3])
    with pytest.raises(ValueError, match="logits"):
        wrong_class_gaps(np.ones(3), [0])
