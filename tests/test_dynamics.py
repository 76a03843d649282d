"""Tests of lsmath.dynamics against autograd, SymPy and the closed forms."""

import math

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

import lsmath
from lsmath import dynamics as dyn
from lsmath import symbolic as S

CONVENTIONS = ["uniform", "off_target"]


def _ce(z, y):
    return -(y * torch.log_softmax(z, dim=-1)).sum()


@pytest.mark.parametrize("k", [2, 3, 7])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_softmax_hessian_matches_autograd_for_any_target(k, seed):
    g = torch.Generator().manual_seed(seed)
    z = 3 * torch.randn(k, generator=g, dtype=torch.float64)
    expected = dyn.softmax_hessian(z)
    for y in (
        F.one_hot(torch.tensor(0), k).double(),
        torch.softmax(torch.randn(k, generator=g, dtype=torch.float64), 0),
    ):
        hess = torch.autograd.functional.hessian(lambda v: _ce(v, y), z)
        torch.testing.assert_close(hess, expected)
    # a target that does not sum to 1 scales the Hessian by its mass
    y = torch.rand(k, generator=g, dtype=torch.float64) * 2
    hess = torch.autograd.functional.hessian(lambda v: _ce(v, y), z)
    torch.testing.assert_close(hess, y.sum() * expected)


def test_softmax_hessian_properties_batched_and_numpy():
    z = torch.randn(
        5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3)
    )
    h = dyn.softmax_hessian(z)
    assert h.shape == (5, 4, 4)
    torch.testing.assert_close(h, h.transpose(1, 2))
    torch.testing.assert_close(h.sum(dim=2), torch.zeros(5, 4, dtype=torch.float64))
    assert (torch.linalg.eigvalsh(h) > -1e-12).all()
    p = torch.softmax(z, 1)
    torch.testing.assert_close(
        torch.diagonal(h, dim1=1, dim2=2).sum(1), 1 - (p**2).sum(1)
    )
    hn = dyn.softmax_hessian(z.numpy())
    assert isinstance(hn, np.ndarray)
    np.testing.assert_allclose(hn, h.numpy())


def test_softmax_hessian_symbolic_k3():
    z = sp.symbols("z0:3", real=True)
    y = sp.symbols("y0:3", positive=True)
    loss = S.cross_entropy(y, S.softmax(z))
    p = S.softmax(z)
    for i in range(3):
        for j in range(3):
            expected = sum(y) * ((p[i] if i == j else 0) - p[i] * p[j])
            assert sp.simplify(sp.diff(loss, z[i], z[j]) - expected) == 0


@pytest.mark.parametrize("k", [2, 5])
def test_cross_entropy_gradient_any_target(k):
    g = torch.Generator().manual_seed(k)
    z = torch.randn(3, k, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.rand(3, k, dtype=torch.float64, generator=g) * 3  # rows do not sum to 1
    _ce(z, y).backward()
    torch.testing.assert_close(dyn.cross_entropy_gradient(z.detach(), y), z.grad)
    yn = y / y.sum(1, keepdim=True)
    torch.testing.assert_close(
        dyn.cross_entropy_gradient(z.detach(), yn), torch.softmax(z.detach(), 1) - yn
    )


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.4])
def test_logit_gradient_norms_match_autograd(convention, alpha):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 4, dtype=torch.float64, generator=g, requires_grad=True)
    t = torch.randint(0, 4, (6,), generator=g)
    lsmath.ls_cross_entropy(
        z, t, alpha, convention=convention, reduction="sum"
    ).backward()
    expected = z.grad.norm(dim=1)
    torch.testing.assert_close(
        dyn.logit_gradient_norms(z.detach(), t, alpha, convention), expected
    )
    out = dyn.logit_gradient_norms(z.detach().numpy(), t.numpy(), alpha, convention)
    np.testing.assert_allclose(out, expected.numpy())


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("k", [2, 3, 10])
@pytest.mark.parametrize("alpha", [0.0, 0.05, 0.3])
def test_uniform_prediction_factor(convention, k, alpha):
    z = torch.zeros(k, k, dtype=torch.float64)
    t = torch.arange(k)
    ls = lsmath.ls_gradient(z, t, alpha, convention)
    hard = lsmath.ls_gradient(z, t, 0.0)
    torch.testing.assert_close(
        ls, dyn.uniform_prediction_factor(alpha, k, convention) * hard
    )


def test_uniform_prediction_factor_values():
    assert dyn.uniform_prediction_factor(0.1, 10) == pytest.approx(0.9)
    assert dyn.uniform_prediction_factor(
        0.1, 5, convention="off_target"
    ) == pytest.approx(0.875)
    np.testing.assert_allclose(
        dyn.uniform_prediction_factor(np.array([0.0, 0.5]), 4), [1.0, 0.5]
    )


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5])
def test_one_hot_prediction_gradient_is_the_limit(convention, k, alpha):
    z = torch.zeros(1, k, dtype=torch.float64)
    z[0, 1] = 60.0  # p is e_1 to double precision
    g = lsmath.ls_gradient(z, torch.tensor([1]), alpha, convention)[0].numpy()
    expected = dyn.one_hot_prediction_gradient(
        alpha, k, target=1, convention=convention
    )
    np.testing.assert_allclose(g, expected, atol=1e-12)
    a = lsmath.alpha_from_eps(alpha, k) if convention == "off_target" else alpha
    u = np.full(k, 1 / k)
    np.testing.assert_allclose(expected, a * (np.eye(k)[1] - u), atol=1e-15)
    assert np.linalg.norm(expected) == pytest.approx(
        dyn.restoring_force_norm(alpha, k, convention)
    )


def test_restoring_force_norm_closed_form():
    assert dyn.restoring_force_norm(0.0, 10) == 0.0
    assert dyn.restoring_force_norm(0.1, 10) == pytest.approx(0.1 * math.sqrt(0.9))
    assert dyn.restoring_force_norm(0.1, 5, "off_target") == pytest.approx(
        0.125 * math.sqrt(0.8)
    )


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.3])
def test_gradient_component_bounds_hold_and_are_tight(convention, alpha):
    k = 4
    b = dyn.gradient_component_bounds(alpha, k, convention)
    g = torch.Generator().manual_seed(1)
    z = 3 * torch.randn(
        2000, k, dtype=torch.float64, generator=g
    )  # p stays inside the open simplex
    t = torch.zeros(2000, dtype=torch.long)
    grad = lsmath.ls_gradient(z, t, alpha, convention)
    assert (grad[:, 0] > b["true"][0]).all() and (grad[:, 0] < b["true"][1]).all()
    assert (grad[:, 1:] > b["other"][0]).all() and (grad[:, 1:] < b["other"][1]).all()
    # the ends are approached by extreme logits
    big = torch.tensor([[40.0, 0, 0, 0], [0, 40.0, 0, 0]], dtype=torch.float64)
    ext = lsmath.ls_gradient(big, torch.zeros(2, dtype=torch.long), alpha, convention)
    assert ext[0, 0].item() == pytest.approx(b["true"][1], abs=1e-12)
    assert ext[1, 0].item() == pytest.approx(b["true"][0], abs=1e-12)
    assert ext[1, 1].item() == pytest.approx(b["other"][1], abs=1e-12)
    assert ext[0, 1].item() == pytest.approx(b["other"][0], abs=1e-12)


def test_hard_bounds_are_seed_004s():
    assert dyn.gradient_component_bounds(0.0, 3) == {
        "true": (-1.0, 0.0),
        "other": (0.0, 1.0),
    }


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("k", [2, 3, 10])
def test_stationary_logits(convention, k):
    alpha = 0.1
    z = dyn.stationary_logits(alpha, k, target=k - 1, convention=convention)
    assert np.isfinite(z).all() and abs(z.mean()) < 1e-12
    g = lsmath.ls_gradient(
        torch.tensor(z[None]), torch.tensor([k - 1]), alpha, convention
    )
    assert g.abs().max() < 1e-12
    gap = z[k - 1] - z[0]
    assert gap == pytest.approx(lsmath.optimal_logit_gap(alpha, k, convention))


def test_stationary_logits_binary_ln9():
    z = dyn.stationary_logits(0.1, 2, convention="off_target")
    assert z[0] - z[1] == pytest.approx(math.log(9))


def test_errors():
    with pytest.raises(ValueError, match="alpha"):
        dyn.stationary_logits(0.0, 3)
    with pytest.raises(ValueError, match="target"):
        dyn.stationary_logits(0.1, 3, target=3)
    with pytest.raises(ValueError, match="target"):
        dyn.one_hot_prediction_gradient(0.1, 3, target=-1)
    with pytest.raises(ValueError, match="alpha"):
        dyn.restoring_force_norm(1.5, 3)
    with pytest.raises(ValueError, match="convention"):
        dyn.uniform_prediction_factor(0.1, 3, convention="nope")
    with pytest.raises(ValueError, match="finite"):
        dyn.softmax_hessian(torch.tensor([0.0, float("inf")]))
    with pytest.raises(ValueError, match="shape"):
        dyn.softmax_hessian(torch.zeros(2, 2, 2))
    with pytest.raises(TypeError, match="floating"):
        dyn.softmax_hessian(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="shape"):
        dyn.cross_entropy_gradient(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="nonnegative"):
        dyn.cross_entropy_gradient(torch.zeros(2), torch.tensor([-1.0, 2.0]))
    with pytest.raises(TypeError):
        dyn.restoring_force_norm(0.1, 2.5)


def _train_member_alone(weights, biases, x, y, alpha, epochs, batch_size, seed):
    """One member as a plain nn.Sequential, trained with F.cross_entropy."""
    layers = []
    for i, (w, b) in enumerate(zip(weights, biases)):
        lin = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            lin.weight.copy_(w.T)
            lin.bias.copy_(b[0])
        layers.append(lin)
        if i < len(weights) - 1:
            layers.append(torch.nn.LeakyReLU(0.2))
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch_size):
            idx = perm[start : start + batch_size]
            loss = F.cross_entropy(net(x[idx]), y[idx], label_smoothing=alpha)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return net(x)


@pytest.mark.parametrize("batch_size", [None, 8])
def test_train_ensemble_equals_members_trained_alone(batch_size):
    from lsmath.applications import EnsembleMLP

    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(24, 5, generator=gen), torch.arange(24) % 3
    net = EnsembleMLP(3, [5, 7, 3], seed=1)
    w0 = [w.detach().clone() for w in net.weights]
    b0 = [b.detach().clone() for b in net.biases]
    alphas, seeds = [0.0, 0.1, 0.3], [4, 5, 4]
    hist = dyn.train_ensemble(
        net,
        x,
        y,
        alphas,
        epochs=6,
        batch_size=batch_size,
        lr=1e-2,
        seeds=seeds,
        on_epoch=lambda epoch, z: {"acc": (z.argmax(-1) == y).float().mean(1)},
    )
    assert hist["loss"].shape == hist["acc"].shape == (6, 3)
    with torch.no_grad():
        z_ens = net(x.expand(3, -1, -1))
    for m in range(3):
        alone = _train_member_alone(
            [w[m] for w in w0],
            [b[m] for b in b0],
            x,
            y,
            alphas[m],
            6,
            batch_size or len(x),
            seeds[m],
        )
        assert torch.allclose(z_ens[m], alone, atol=1e-5)
        assert hist["acc"][-1, m] == float((alone.argmax(1) == y).float().mean())


def test_train_ensemble_batch_size_at_least_n_is_full_batch():
    from lsmath.applications import EnsembleMLP

    x, y = (
        torch.randn(10, 3, generator=torch.Generator().manual_seed(0)),
        torch.arange(10) % 2,
    )
    runs = []
    for batch_size in (None, 10, 64):
        net = EnsembleMLP(2, [3, 2], seed=0)
        dyn.train_ensemble(net, x, y, [0.0, 0.1], epochs=3, batch_size=batch_size)
        runs.append([p.detach().clone() for p in net.parameters()])
    for other in runs[1:]:
        assert all(torch.equal(p, q) for p, q in zip(runs[0], other))


def test_train_ensemble_errors():
    from lsmath.applications import EnsembleMLP

    net, x, y = EnsembleMLP(2, [3, 2], seed=0), torch.zeros(4, 3), torch.zeros(4).long()
    with pytest.raises(ValueError, match="alphas"):
        dyn.train_ensemble(net, x, y, [0.0, 1.5], epochs=1)
    with pytest.raises(ValueError, match="seeds"):
        dyn.train_ensemble(net, x, y, [0.0, 0.1], epochs=1, seeds=[0])
    with pytest.raises(ValueError, match="epochs"):
        dyn.train_ensemble(net, x, y, [0.0, 0.1], epochs=0)
    with pytest.raises(ValueError, match="net must return"):
        flat = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Flatten(0, 1))
        dyn.train_ensemble(flat, x, y, [0.0, 0.1], epochs=1)
    with pytest.raises(ValueError, match="y must"):
        dyn.train_ensemble(net, x, y[:3], [0.0, 0.1], epochs=1)
    with pytest.raises(TypeError, match="net"):
        dyn.train_ensemble("net", x, y, [0.0], epochs=1)
    with pytest.raises(ValueError, match="y must"):
        dyn.train_ensemble(net, x, y.expand(2, -1), [0.0, 0.1], epochs=1)
    with pytest.raises(ValueError, match="lr"):
        dyn.train_ensemble(net, x, y, [0.0, 0.1], epochs=1, lr=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        dyn.train_ensemble(net, x, y, [0.0, 0.1], epochs=1, batch_size=0)
