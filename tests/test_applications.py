"""Tests of lsmath.applications against independent computations: SymPy,
autograd, F.binary_cross_entropy_with_logits, TRL's cDPO formula written out,
torch.nn.GRU and lsmath.sequence_ls_loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from lsmath.applications import (
    EnsembleGRU,
    EnsembleMLP,
    ensemble_sequence_ls_loss,
    markov_next_token_probs,
    optimal_discriminator,
    optimal_preference_margin,
    random_transition_tensor,
    sample_markov_sequences,
    smoothed_discriminator_loss,
    smoothed_dpo_loss,
)
from lsmath.frameworks import sequence_ls_loss
from lsmath.minimize import lbfgs_minimize

pytestmark = pytest.mark.usefixtures("one_thread")


# --- GAN discriminator -------------------------------------------------------------
def test_optimal_discriminator_is_the_stationary_point_symbolically():
    d, pd_, pm = sp.symbols("D p_d p_m", positive=True)
    a, b = sp.symbols("a b", nonnegative=True)
    risk = -pd_ * ((1 - a) * sp.log(d) + a * sp.log(1 - d)) - pm * (
        b * sp.log(d) + (1 - b) * sp.log(1 - d)
    )
    (sol,) = sp.solve(sp.diff(risk, d), d)
    assert sp.simplify(sol - ((1 - a) * pd_ + b * pm) / (pd_ + pm)) == 0
    for vals in ((0.3, 1.7, 0.1, 0.0), (2.0, 0.5, 0.2, 0.1), (1.0, 1.0, 0.0, 0.0)):
        expect = float(sol.subs({pd_: vals[0], pm: vals[1], a: vals[2], b: vals[3]}))
        assert abs(optimal_discriminator(*vals) - expect) < 1e-12


def test_optimal_discriminator_minimises_the_pointwise_bce():
    # numerical minimiser of the expected loss at one point, by LBFGS on the logit
    for p_d, p_m, a, b in (
        (0.7, 0.2, 0.1, 0.0),
        (0.05, 2.0, 0.1, 0.1),
        (1.0, 3.0, 0.0, 0.0),
    ):

        def expected_bce(z):
            real = F.binary_cross_entropy_with_logits(
                z, torch.tensor([1 - a], dtype=z.dtype)
            )
            fake = F.binary_cross_entropy_with_logits(
                z, torch.tensor([b], dtype=z.dtype)
            )
            return p_d * real + p_m * fake

        z = lbfgs_minimize(expected_bce, torch.zeros(1, dtype=torch.float64))
        assert (
            abs(torch.sigmoid(z).item() - optimal_discriminator(p_d, p_m, a, b)) < 1e-7
        )


def test_optimal_discriminator_arrays_and_errors():
    out = optimal_discriminator(np.array([1.0, 0.0]), np.array([1.0, 2.0]), 0.1, 0.2)
    assert np.allclose(out, [(0.9 + 0.2) / 2, 0.2])
    with pytest.raises(ValueError, match="positive"):
        optimal_discriminator(0.0, 0.0)
    with pytest.raises(ValueError, match="nonnegative"):
        optimal_discriminator(-1.0, 1.0)
    with pytest.raises(ValueError, match="real_smoothing"):
        optimal_discriminator(1.0, 1.0, real_smoothing=1.0)
    with pytest.raises(ValueError, match="fake_smoothing"):
        optimal_discriminator(1.0, 1.0, fake_smoothing=-0.1)


def test_smoothed_discriminator_loss_matches_bce_by_hand():
    g = torch.Generator().manual_seed(0)
    real, fake = (
        torch.randn(7, 1, generator=g, dtype=torch.float64),
        torch.randn(5, 1, generator=g, dtype=torch.float64),
    )
    for a, b in ((0.0, 0.0), (0.1, 0.0), (0.1, 0.1), (0.3, 0.2)):
        s_r, s_f = torch.sigmoid(real), torch.sigmoid(fake)
        by_hand = (-(1 - a) * torch.log(s_r) - a * torch.log(1 - s_r)).mean() + (
            -b * torch.log(s_f) - (1 - b) * torch.log(1 - s_f)
        ).mean()
        assert torch.isclose(smoothed_discriminator_loss(real, fake, a, b), by_hand)


def test_smoothed_discriminator_loss_per_member_smoothing():
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(3, 4, 1, generator=g), torch.randn(3, 4, 1, generator=g)
    a = torch.tensor([0.0, 0.1, 0.1])[:, None, None]
    b = torch.tensor([0.0, 0.0, 0.1])[:, None, None]
    total = smoothed_discriminator_loss(real, fake, a, b) * 3
    each = sum(
        smoothed_discriminator_loss(real[m], fake[m], float(a[m]), float(b[m]))
        for m in range(3)
    )
    assert torch.isclose(total, each)


def test_smoothed_discriminator_loss_gradient_vanishes_at_the_targets():
    a, b = 0.1, 0.2
    real = torch.full(
        (3, 1), math.log((1 - a) / a), dtype=torch.float64, requires_grad=True
    )
    fake = torch.full(
        (3, 1), math.log(b / (1 - b)), dtype=torch.float64, requires_grad=True
    )
    smoothed_discriminator_loss(real, fake, a, b).backward()
    assert real.grad.abs().max() < 1e-12 and fake.grad.abs().max() < 1e-12


def test_smoothed_discriminator_loss_errors():
    z = torch.zeros(2, 1)
    with pytest.raises(TypeError):
        smoothed_discriminator_loss(z.long(), z)
    with pytest.raises(ValueError, match="real_smoothing"):
        smoothed_discriminator_loss(z, z, 1.5)
    with pytest.raises(ValueError, match="fake_smoothing"):
        smoothed_discriminator_loss(z, z, 0.0, torch.tensor([0.1, 1.0]))
    with pytest.raises(ValueError, match="empty"):
        smoothed_discriminator_loss(torch.zeros(0), z)


# --- preference optimisation -------------------------------------------------------
def trl_cdpo(pc, pr, rc, rr, beta, eps):
    """TRL's DPOTrainer(loss_type="sigmoid") loss up to v0.28, written out."""
    logits = (pc - pr) - (rc - rr)
    return -F.logsigmoid(beta * logits) * (1 - eps) - F.logsigmoid(-beta * logits) * eps


def test_smoothed_dpo_loss_equals_trl_formula():
    g = torch.Generator().manual_seed(2)
    lp = [torch.randn(9, generator=g, dtype=torch.float64) * 5 for _ in range(4)]
    for beta, eps in ((0.1, 0.0), (0.1, 0.1), (0.5, 0.3)):
        ref = trl_cdpo(*lp, beta, eps)
        assert torch.allclose(
            smoothed_dpo_loss(*lp, beta=beta, label_smoothing=eps, reduction="none"),
            ref,
        )
        assert torch.isclose(
            smoothed_dpo_loss(*lp, beta=beta, label_smoothing=eps), ref.mean()
        )
        assert torch.isclose(
            smoothed_dpo_loss(*lp, beta=beta, label_smoothing=eps, reduction="sum"),
            ref.sum(),
        )


def test_smoothed_dpo_loss_is_bce_on_the_bradley_terry_logit():
    g = torch.Generator().manual_seed(3)
    h = torch.randn(6, generator=g, dtype=torch.float64) * 3
    zero = torch.zeros_like(h)
    for beta, eps in ((0.2, 0.05), (1.0, 0.25)):
        bce = F.binary_cross_entropy_with_logits(
            beta * h, torch.full_like(h, 1 - eps), reduction="none"
        )
        assert torch.allclose(
            smoothed_dpo_loss(h, zero, zero, zero, beta, eps, "none"), bce
        )


def test_smoothed_dpo_gradient_closed_form():
    g = torch.Generator().manual_seed(4)
    h = (torch.randn(8, generator=g, dtype=torch.float64) * 4).requires_grad_()
    zero = torch.zeros(8, dtype=torch.float64)
    beta, eps = 0.5, 0.1
    smoothed_dpo_loss(h, zero, zero, zero, beta, eps, "sum").backward()
    assert torch.allclose(h.grad, beta * (torch.sigmoid(beta * h.detach()) - (1 - eps)))


def test_optimal_preference_margin_symbolic_and_numeric():
    h, beta, eps = sp.symbols("h beta epsilon", positive=True)
    loss = -(1 - eps) * sp.log(1 / (1 + sp.exp(-beta * h))) - eps * sp.log(
        1 / (1 + sp.exp(beta * h))
    )
    h_star = sp.log((1 - eps) / eps) / beta
    assert sp.simplify(sp.diff(loss, h).subs(h, h_star)) == 0
    assert (
        sp.simplify(
            sp.diff(loss, h, 2)
            - beta**2 * sp.exp(beta * h) / (1 + sp.exp(beta * h)) ** 2
        )
        == 0
    )
    for b_, e_ in ((0.1, 0.1), (0.5, 0.2), (2.0, 0.01)):
        assert (
            abs(
                optimal_preference_margin(e_, b_)
                - float(h_star.subs({beta: b_, eps: e_}))
            )
            < 1e-12
        )
    assert abs(optimal_preference_margin(0.1) - math.log(9)) < 1e-12
    assert optimal_preference_margin(0.0, 0.1) == math.inf
    assert optimal_preference_margin(0.5) == 0.0


def test_optimal_preference_margin_minimises_the_loss_numerically():
    zero = torch.zeros(1, dtype=torch.float64)
    x = lbfgs_minimize(
        lambda x: smoothed_dpo_loss(x, zero, zero, zero, 0.25, 0.05),
        torch.zeros(1, dtype=torch.float64),
    )
    assert abs(x.item() - optimal_preference_margin(0.05, 0.25)) < 1e-6


def test_dpo_errors():
    z = torch.zeros(3)
    with pytest.raises(ValueError, match="beta"):
        smoothed_dpo_loss(z, z, z, z, beta=0.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        smoothed_dpo_loss(z, z, z, z, label_smoothing=1.0)
    with pytest.raises(ValueError, match="shape"):
        smoothed_dpo_loss(z, torch.zeros(2), z, z)
    with pytest.raises(ValueError, match="reduction"):
        smoothed_dpo_loss(z, z, z, z, reduction="avg")
    with pytest.raises(TypeError):
        smoothed_dpo_loss(z.long(), z, z, z)
    with pytest.raises(ValueError, match="beta"):
        optimal_preference_margin(0.1, beta=-1.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        optimal_preference_margin(1.2)


# --- sequence task -----------------------------------------------------------------
def test_transition_tensor_rows_are_distributions_and_seeded():
    P = random_transition_tensor(5, order=2, concentration=0.3, seed=3)
    assert P.shape == (5, 5, 5) and torch.allclose(
        P.sum(-1), torch.ones(5, 5, dtype=P.dtype)
    )
    assert (P >= 0).all()
    assert torch.equal(
        P, random_transition_tensor(5, order=2, concentration=0.3, seed=3)
    )
    with pytest.raises(ValueError, match="num_symbols"):
        random_transition_tensor(1)
    with pytest.raises(ValueError, match="order"):
        random_transition_tensor(3, order=0)
    with pytest.raises(ValueError, match="concentration"):
        random_transition_tensor(3, concentration=0.0)


def test_sampled_sequences_follow_the_chain():
    P = random_transition_tensor(3, order=1, concentration=1.0, seed=0)
    x = sample_markov_sequences(P, 4000, min_length=8, max_length=8, seed=1)
    assert x.min() >= 1 and x.max() <= 3
    prev, nxt = x[:, :-1].reshape(-1) - 1, x[:, 1:].reshape(-1) - 1
    counts = torch.zeros(3, 3, dtype=torch.float64)
    counts.index_put_(
        (prev, nxt), torch.ones(len(prev), dtype=torch.float64), accumulate=True
    )
    assert torch.allclose(counts / counts.sum(1, keepdim=True), P, atol=0.02)


def test_padding_and_true_probabilities():
    P = random_transition_tensor(4, order=2, seed=5)
    x = sample_markov_sequences(P, 50, min_length=3, max_length=9, seed=2)
    lengths = (x != 0).sum(1)
    assert lengths.min() >= 3 and lengths.max() <= 9
    assert all((x[i, lengths[i] :] == 0).all() for i in range(len(x)))
    mask, q = markov_next_token_probs(P, x)
    assert mask.sum() == sum(
        int(n) - 2 for n in lengths
    )  # targets from the third symbol on
    b, t = mask.nonzero(as_tuple=True)[0][0], mask.nonzero(as_tuple=True)[1][0]
    ctx = (x[b, t - 1] - 1, x[b, t] - 1)
    assert torch.allclose(q[0, 1:], P[ctx[0], ctx[1]]) and q[0, 0] == 0
    with pytest.raises(ValueError, match="min_length"):
        sample_markov_sequences(P, 3, min_length=2, max_length=5)
    with pytest.raises(ValueError, match="pad_index"):
        sample_markov_sequences(P, 3, min_length=3, max_length=5, pad_index=1)


def test_ensemble_sequence_loss_equals_sequence_ls_loss():
    g = torch.Generator().manual_seed(6)
    z = torch.randn(3, 4, 6, 7, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randint(1, 7, (4, 6), generator=g)
    t[1, 3:] = 0
    t[3, 2:] = 0
    alphas = [0.0, 0.1, 0.3]
    out = ensemble_sequence_ls_loss(z, t, alphas)
    for m, a in enumerate(alphas):
        ref = sequence_ls_loss(z[m], t, a, pad_index=0, smooth_pad_column=False)
        assert torch.isclose(out[m], ref)
    out.sum().backward()
    assert (z.grad[:, t == 0] == 0).all()  # padded positions get no gradient
    with pytest.raises(ValueError, match="alphas"):
        ensemble_sequence_ls_loss(z, t, [0.1, 0.2])
    with pytest.raises(ValueError, match="target"):
        ensemble_sequence_ls_loss(z, t[:, :3], alphas)


# --- ensembles ---------------------------------------------------------------------
def test_ensemble_mlp_members_are_independent_mlps():
    net = EnsembleMLP(3, [2, 5, 1], seed=0)
    x = torch.randn(3, 4, 2, generator=torch.Generator().manual_seed(0))
    out = net(x)
    for m in range(3):
        h = F.leaky_relu(x[m] @ net.weights[0][m] + net.biases[0][m], 0.2)
        assert torch.allclose(
            out[m], h @ net.weights[1][m] + net.biases[1][m], atol=1e-6
        )
    out[1].sum().backward()
    assert (
        net.weights[0].grad[0].abs().max() == 0
        and net.weights[0].grad[1].abs().max() > 0
    )


def test_ensemble_gru_member_equals_torch_gru():
    lm = EnsembleGRU(2, vocab_size=6, embed_dim=3, hidden_dim=4, seed=1).double()
    tokens = torch.randint(0, 6, (5, 7), generator=torch.Generator().manual_seed(2))
    logits = lm(tokens)
    for m in range(2):
        gru = torch.nn.GRU(3, 4, batch_first=True).double()
        with torch.no_grad():
            gru.weight_ih_l0.copy_(lm.w_ih[m].T)
            gru.weight_hh_l0.copy_(lm.w_hh[m].T)
            gru.bias_ih_l0.copy_(lm.b_ih[m, 0])
            gru.bias_hh_l0.copy_(lm.b_hh[m, 0])
            hs, _ = gru(lm.embedding[m][tokens])
            ref = hs @ lm.w_out[m] + lm.b_out[m]
        assert torch.allclose(logits[m], ref, atol=1e-12)


def test_ensemble_errors():
    with pytest.raises(ValueError, match="num_models"):
        EnsembleMLP(0, [2, 1])
    with pytest.raises(ValueError, match="sizes"):
        EnsembleMLP(2, [2])
    with pytest.raises(ValueError, match="hidden_dim"):
        EnsembleGRU(2, 5, 3, 0)
    with pytest.raises(ValueError, match="tokens"):
        EnsembleGRU(1, 5, 3, 4)(torch.zeros(3, dtype=torch.long))
