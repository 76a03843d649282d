"""lsmath.robustness against independent computations: torchmetrics' AUROC,
brute force over tie orders and pairs, scikit-learn's logistic regression,
finite differences and hand-written loops."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.classification import binary_auroc

from lsmath import robustness as R
from lsmath.training import make_mlp

pytestmark = pytest.mark.usefixtures("one_thread")


def _mlp(seed=0, sizes=(5, 16, 16, 4)):
    return make_mlp(list(sizes), seed=seed).double()


def _batch(n=12, d=5, k=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen, dtype=torch.float64), torch.randint(
        0, k, (n,), generator=gen
    )


# ------------------------------------------------------------------ input gradient


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.4])
def test_input_gradient_is_jacobian_transpose_times_residual(alpha):
    model, (x, y) = _mlp(), _batch()
    g = R.input_gradient(model, x, y, alpha)
    y_ls = (1 - alpha) * F.one_hot(y, 4).double() + alpha / 4
    for i in range(x.shape[0]):
        jac = torch.autograd.functional.jacobian(model, x[i])  # (K, d)
        p = torch.softmax(model(x[i]), 0).detach()
        torch.testing.assert_close(g[i], jac.T @ (p - y_ls[i]), rtol=1e-10, atol=1e-12)


def test_input_gradient_finite_differences():
    model, (x, y) = _mlp(1), _batch(4)
    g = R.input_gradient(model, x, y, 0.2)
    h = 1e-6
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            xp, xm = x.clone(), x.clone()
            xp[i, j] += h
            xm[i, j] -= h
            lp = F.cross_entropy(
                model(xp[i : i + 1]), y[i : i + 1], label_smoothing=0.2
            )
            lm = F.cross_entropy(
                model(xm[i : i + 1]), y[i : i + 1], label_smoothing=0.2
            )
            assert abs((lp - lm).item() / (2 * h) - g[i, j].item()) < 1e-7


def test_input_gradient_vanishes_at_the_smoothed_optimum():
    # a linear model whose softmax equals y_LS at x: p - y_LS = 0, so the gradient is 0
    k, a = 3, 0.3
    gap = float(np.log((1 - a + a / k) / (a / k)))
    lin = nn.Linear(1, k).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[gap], [0.0], [0.0]]))
        lin.bias.zero_()
    x, y = torch.ones(1, 1, dtype=torch.float64), torch.tensor([0])
    assert R.input_gradient(lin, x, y, a).abs().max() < 1e-8
    assert R.input_gradient(lin, x, y, 0.0).abs().max() > 0.1


# ------------------------------------------------------------------ attacks


def test_margin_loss_matches_loop():
    z, y = (
        torch.randn(20, 6, generator=torch.Generator().manual_seed(3)),
        torch.arange(20) % 6,
    )
    expected = torch.tensor(
        [max(z[i, k] for k in range(6) if k != y[i]) - z[i, y[i]] for i in range(20)]
    )
    torch.testing.assert_close(R.margin_loss(z, y), expected)


def test_fgsm_linear_model_closed_form():
    # binary linear model: the CE input gradient is (p - y) (w_1 - w_0) direction
    lin = nn.Linear(3, 2).double()
    x, y = _batch(10, 3, 2, seed=4)
    xa = R.fgsm(lin, x, y, 0.3)
    w_diff = (lin.weight[1] - lin.weight[0]).detach()
    sign = torch.where(y == 0, 1.0, -1.0).double()  # ascent raises the wrong logit
    torch.testing.assert_close(xa, x + 0.3 * (sign[:, None] * w_diff.sign()[None, :]))


@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_pgd_stays_in_ball_and_beats_clean(loss):
    model, (x, y) = _mlp(2), _batch(64, seed=5)
    eps = 0.3
    xa = R.pgd(model, x, y, eps, steps=20, loss=loss, random_start=True, seed=1)
    assert (xa - x).abs().max() <= eps + 1e-12
    clean = R.margin_loss(model(x), y).detach()
    adv = R.margin_loss(model(xa), y).detach()
    assert adv.mean() > clean.mean()


def test_pgd_one_step_from_x_is_fgsm_with_its_step():
    model, (x, y) = _mlp(3), _batch(16, seed=6)
    torch.testing.assert_close(
        R.pgd(model, x, y, 0.2, steps=1, step_size=0.2), R.fgsm(model, x, y, 0.2)
    )


def test_attack_errors():
    model, (x, y) = _mlp(), _batch()
    with pytest.raises(ValueError, match="eps"):
        R.fgsm(model, x, y, -0.1)
    with pytest.raises(ValueError, match="loss"):
        R.pgd(model, x, y, 0.1, loss="hinge")
    with pytest.raises(ValueError, match="steps"):
        R.pgd(model, x, y, 0.1, steps=0)
    with pytest.raises(ValueError, match="y must have shape"):
        R.fgsm(model, x, y[:-1], 0.1)
    with pytest.raises(TypeError, match="model"):
        R.fgsm(lambda t: t, x, y, 0.1)


def test_corrupt_inputs_loop():
    x = torch.arange(20.0).reshape(2, 10)
    out = R.corrupt_inputs(x, shift=2, scale=0.5, seed=0)
    for i in range(2):
        row = out[i]
        matches = [
            s for s in range(-2, 3) if torch.equal(row, torch.roll(0.5 * x[i], s))
        ]
        assert len(matches) == 1
    noisy = R.corrupt_inputs(torch.zeros(2000, 5), noise=0.7, seed=3)
    assert abs(noisy.std().item() - 0.7) < 0.03
    with pytest.raises(ValueError, match="noise"):
        R.corrupt_inputs(x, noise=-1.0)


# ------------------------------------------------------------------ saturation


def test_inactive_units_match_manual_forward():
    model, (x, _) = _mlp(4), _batch(50, seed=7)
    acts = R.inactive_unit_fraction(model, x)
    h1 = model[0](x)
    h2 = model[2](torch.relu(h1))
    for rec, pre in zip(acts, (h1, h2)):
        assert rec.inactive == pytest.approx((pre <= 0).double().mean().item())
        assert rec.dead == pytest.approx((pre <= 0).all(dim=0).double().mean().item())
    with pytest.raises(ValueError, match="ReLU"):
        R.inactive_unit_fraction(nn.Linear(5, 2), x)


def test_layer_gradient_norms_match_autograd_and_leave_grad_alone():
    model, (x, y) = _mlp(5), _batch(30, seed=8)
    norms = R.layer_gradient_norms(model, x, y, 0.1)
    assert all(p.grad is None for p in model.parameters())
    F.cross_entropy(model(x), y, label_smoothing=0.1).backward()
    expected = [model[i].weight.grad.norm().item() for i in (0, 2, 4)]
    assert norms == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------ selective classification


def _brute_force_aurc(conf, ok):
    """Average AURC over every order of the tied confidences (exact expectation)."""
    groups = [np.flatnonzero(conf == c) for c in sorted(set(conf), reverse=True)]
    values = []
    for perms in itertools.product(*[itertools.permutations(g) for g in groups]):
        order = np.concatenate(perms)
        err = (~ok[order]).astype(float)
        values.append(np.mean(np.cumsum(err) / np.arange(1, len(err) + 1)))
    return np.mean(values)


def test_aurc_brute_force_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        conf = rng.choice([0.2, 0.5, 0.7, 0.9], size=7)
        ok = rng.random(7) < 0.6
        assert R.aurc(conf, ok) == pytest.approx(_brute_force_aurc(conf, ok), abs=1e-12)


def test_risk_coverage_without_ties_direct_formula():
    rng = np.random.default_rng(1)
    conf, ok = rng.random(200), rng.random(200) < 0.7
    rc = R.risk_coverage_curve(conf, ok)
    order = np.argsort(-conf)
    err = ~ok[order]
    np.testing.assert_allclose(rc.risk, np.cumsum(err) / np.arange(1, 201))
    np.testing.assert_allclose(rc.coverage, np.arange(1, 201) / 200)
    assert rc.risk[-1] == pytest.approx(1 - ok.mean())


def test_confidence_auroc_against_torchmetrics_and_pairs():
    rng = np.random.default_rng(2)
    for ties in (False, True):
        conf = rng.integers(0, 5, 300) / 4 if ties else rng.random(300)
        ok = rng.random(300) < 0.3 + 0.5 * conf
        mine = R.confidence_auroc(conf, ok)
        tm = binary_auroc(torch.tensor(conf), torch.tensor(ok).long()).item()
        assert mine == pytest.approx(tm, abs=1e-6)  # torchmetrics: float32
        pos, neg = conf[ok], conf[~ok]
        pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (
            pos[:, None] == neg[None, :]
        ).mean()
        assert mine == pytest.approx(pairs, abs=1e-12)


def test_selective_errors():
    with pytest.raises(ValueError, match="at least one right and one wrong"):
        R.confidence_auroc(np.array([0.1, 0.2]), np.array([True, True]))
    with pytest.raises(ValueError, match="correct must have shape"):
        R.aurc(np.array([0.1, 0.2]), np.array([True]))
    with pytest.raises(ValueError, match="confidence must be finite"):
        R.aurc(np.array([0.1, np.nan]), np.array([True, False]))


# ------------------------------------------------------------------ representations


def test_class_separation_brute_force():
    rng = np.random.default_rng(3)
    f = rng.normal(size=(40, 6)) + np.repeat(
        rng.normal(size=(3, 6)) * 2, [10, 14, 16], axis=0
    )
    lab = np.repeat([0, 1, 2], [10, 14, 16])
    u = f / np.linalg.norm(f, axis=1, keepdims=True)

    def dist(a, b):
        return 1 - u[a] @ u[b]

    classes = [np.flatnonzero(lab == c) for c in range(3)]
    within = np.mean([np.mean([dist(i, j) for i in c for j in c]) for c in classes])
    total = np.mean(
        [
            np.mean([dist(i, j) for i in cj for j in ck])
            for cj in classes
            for ck in classes
        ]
    )
    assert R.class_separation(f, lab) == pytest.approx(1 - within / total, abs=1e-12)


def test_linear_probe_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(4)
    centers = rng.normal(size=(3, 8))
    ftr = np.repeat(centers, 60, axis=0) + 1.5 * rng.normal(size=(180, 8))
    ytr = np.repeat(np.arange(3), 60)
    fte = np.repeat(centers, 100, axis=0) + 1.5 * rng.normal(size=(300, 8))
    yte = np.repeat(np.arange(3), 100)
    l2 = 1e-2
    mean, std = ftr.mean(0), ftr.std(0)
    clf = LogisticRegression(C=1 / (l2 * len(ytr)), tol=1e-12, max_iter=10000)
    clf.fit((ftr - mean) / std, ytr)
    sk_acc = float((clf.predict((fte - mean) / std) == yte).mean())
    assert R.linear_probe_accuracy(ftr, ytr, fte, yte, l2=l2) == pytest.approx(
        sk_acc, abs=1 / 300 + 1e-12
    )


def test_probe_and_separation_errors():
    f = np.ones((4, 2))
    with pytest.raises(ValueError, match="same width"):
        R.linear_probe_accuracy(f, np.zeros(4, int), np.ones((4, 3)), np.zeros(4, int))
    with pytest.raises(ValueError, match="all-zero"):
        R.class_separation(np.zeros((4, 2)), np.array([0, 0, 1, 1]))
    with pytest.raises(ValueError, match="two classes"):
        R.class_separation(f, np.zeros(4, int))
