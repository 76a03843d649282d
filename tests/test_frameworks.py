"""lsmath.frameworks: each framework's formula against PyTorch and against lsmath."""

import itertools

import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import lsmath
import lsmath.symbolic
from lsmath.frameworks import (
    FRAMEWORKS,
    framework_loss,
    framework_targets,
    framework_token_losses,
    lsmath_equivalent,
    sequence_ls_loss,
    target_masses,
)

MULTICLASS = [k for k in FRAMEWORKS if k != "keras_binary"]


def _batch(b=3, t=5, v=7, *, pad=0, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(b, t, v, generator=g) * 2).to(dtype)
    target = torch.randint(0, v, (b, t), generator=g)
    target = torch.where(target == pad, (pad + 1) % v, target)  # no accidental padding
    lengths = [t, max(1, t - 2), max(1, t - 4)][:b]
    for i, n in enumerate(lengths):
        target[i, n:] = pad
    return logits, target


# ---------------------------------------------------------------- masses


@pytest.mark.parametrize("framework", MULTICLASS)
@pytest.mark.parametrize("k", [3, 10, 1000])
@pytest.mark.parametrize("s", [0.0, 0.1, 0.3])
def test_masses_sum_to_one(framework, k, s):
    y_true, y_other = target_masses(framework, s, k)
    receivers = k - 2 if FRAMEWORKS[framework].classes == "all_but_pad" else k - 1
    assert y_true + receivers * y_other == pytest.approx(1.0)


def test_masses_known_values():
    assert target_masses("pytorch", 0.1, 3) == pytest.approx(
        (1 - 0.1 + 0.1 / 3, 0.1 / 3)
    )
    for fw in ("fairseq", "tensor2tensor"):
        assert target_masses(fw, 0.1, 3) == pytest.approx((0.9, 0.05))
    assert target_masses("fairseq_legacy", 0.1, 10) == pytest.approx((0.91, 0.01))
    assert target_masses("opennmt", 0.1, 12) == pytest.approx((0.9, 0.01))
    assert target_masses("keras_binary", 0.1, 2) == pytest.approx((0.95, 0.05))
    # seed 000: PyTorch needs alpha_from_eps(0.1, 3) = 0.15 for [0.9, 0.05, 0.05]
    assert target_masses("pytorch", lsmath.alpha_from_eps(0.1, 3), 3) == pytest.approx(
        (0.9, 0.05)
    )


def test_masses_symbolic_opennmt_is_off_target_over_v_minus_1():
    eps, V = sp.symbols("epsilon V", positive=True)
    y_t, y_o = lsmath.symbolic.smoothed_target(eps, V - 1, "off_target")
    assert sp.simplify(y_o - eps / (V - 2)) == 0
    assert sp.simplify(y_t + (V - 2) * y_o - 1) == 0


def test_equivalent_and_errors():
    assert lsmath_equivalent("pytorch", 0.2, 5) == ("uniform", 0.2, 5)
    assert lsmath_equivalent("opennmt", 0.2, 5) == ("off_target", 0.2, 4)
    with pytest.raises(ValueError, match="framework must be one of"):
        target_masses("jax", 0.1, 3)
    with pytest.raises(ValueError, match="smoothing"):
        target_masses("pytorch", 1.5, 3)
    with pytest.raises(ValueError, match="num_classes must be 2"):
        target_masses("keras_binary", 0.1, 3)
    with pytest.raises(ValueError, match="num_classes"):
        target_masses("opennmt", 0.1, 2)


# ---------------------------------------------------------------- targets


@pytest.mark.parametrize("framework", MULTICLASS)
def test_targets_rows(framework):
    _, target = _batch(pad=0)
    y = framework_targets(framework, target, 7, 0.2, pad_index=0)
    pad = target == 0
    assert (y[pad] == 0).all()
    torch.testing.assert_close(
        y[~pad].sum(-1).double(), torch.ones(int((~pad).sum()), dtype=torch.float64)
    )
    y_true, y_other = target_masses(framework, 0.2, 7)
    rows = y[~pad]
    t = target[~pad]
    torch.testing.assert_close(
        rows.gather(1, t[:, None]).squeeze(1).double(),
        torch.full((len(t),), y_true, dtype=torch.float64),
    )
    if FRAMEWORKS[framework].classes == "all_but_pad":
        assert (rows[:, 0] == 0).all()
    else:
        assert torch.allclose(
            rows[:, 0].double(), torch.tensor(y_other, dtype=torch.float64)
        )


def test_opennmt_needs_pad_index():
    with pytest.raises(ValueError, match="pad_index"):
        framework_targets("opennmt", torch.tensor([1, 2]), 5, 0.1)


def test_targets_bad_input():
    with pytest.raises(TypeError, match="integer"):
        framework_targets("pytorch", torch.tensor([0.0]), 3, 0.1)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        framework_targets("pytorch", torch.tensor([3]), 3, 0.1)
    with pytest.raises(TypeError, match="pad_index"):
        framework_targets("pytorch", torch.tensor([0]), 3, 0.1, pad_index=1.0)


# ---------------------------------------------------------------- losses vs PyTorch


@pytest.mark.parametrize("s", [0.0, 0.1, 0.45])
def test_pytorch_entry_is_pytorch(s):
    logits, target = _batch(pad=2)
    z, t = logits.reshape(-1, 7), target.reshape(-1)
    ref = F.cross_entropy(z, t, label_smoothing=s, ignore_index=2)
    torch.testing.assert_close(framework_loss("pytorch", z, t, s, pad_index=2), ref)
    torch.testing.assert_close(lsmath.ls_cross_entropy(z, t, s, ignore_index=2), ref)


@pytest.mark.parametrize("s", [0.1, 0.3])
def test_huggingface_equals_pytorch_with_ignore_index(s):
    logits, target = _batch(pad=0)
    t = target.masked_fill(target == 0, -100)
    ref = F.cross_entropy(logits.reshape(-1, 7), t.reshape(-1), label_smoothing=s)
    torch.testing.assert_close(
        framework_loss("huggingface", logits, t, s, pad_index=-100), ref
    )


@pytest.mark.parametrize("framework", ["timm", "keras_categorical", "optax"])
def test_uniform_classifiers_equal_pytorch(framework):
    g = torch.Generator().manual_seed(1)
    z, t = (
        torch.randn(9, 4, generator=g, dtype=torch.float64),
        torch.randint(0, 4, (9,), generator=g),
    )
    torch.testing.assert_close(
        framework_loss(framework, z, t, 0.2), F.cross_entropy(z, t, label_smoothing=0.2)
    )


def test_keras_binary_is_bce_towards_half_and_two_class_uniform():
    g = torch.Generator().manual_seed(2)
    z, t = (
        torch.randn(11, generator=g, dtype=torch.float64),
        torch.randint(0, 2, (11,), generator=g),
    )
    s = 0.2
    bce = F.binary_cross_entropy_with_logits(z, t.double() * (1 - s) + 0.5 * s)
    torch.testing.assert_close(framework_loss("keras_binary", z, t, s), bce)
    two = torch.stack([torch.zeros_like(z), z], 1)
    torch.testing.assert_close(bce, F.cross_entropy(two, t, label_smoothing=s))
    with pytest.raises(ValueError, match="one logit per position"):
        framework_token_losses(
            "keras_binary", torch.zeros(3, 2), torch.tensor([0, 1, 1]), 0.1
        )


@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_fairseq_current_is_off_target_over_the_full_vocabulary(eps):
    logits, target = _batch(pad=1)
    z, t = logits.reshape(-1, 7), target.reshape(-1)
    ntokens = int((t != 1).sum())
    summed = lsmath.ls_cross_entropy(
        z, t, eps, convention="off_target", ignore_index=1, reduction="sum"
    )
    torch.testing.assert_close(
        framework_loss("fairseq", z, t, eps, pad_index=1), summed / ntokens
    )
    alpha = lsmath.alpha_from_eps(eps, 7)
    torch.testing.assert_close(
        framework_loss("fairseq", z, t, eps, pad_index=1),
        F.cross_entropy(z, t, label_smoothing=alpha, ignore_index=1),
    )
    # fairseq's own split: (1 - eps - eps_i) * nll + eps_i * sum_k(-log p_k), eps_i = eps / (V - 1)
    logp = torch.log_softmax(z, 1)
    keep = t != 1
    nll = -logp[keep].gather(1, t[keep, None]).sum()
    smooth = -logp[keep].sum()
    eps_i = eps / 6
    torch.testing.assert_close(summed, (1 - eps - eps_i) * nll + eps_i * smooth)
    per_sentence = framework_loss(
        "fairseq", logits, target, eps, pad_index=1, normalize="sentences"
    )
    torch.testing.assert_close(per_sentence, summed / 3)


def test_fairseq_legacy_is_uniform():
    logits, target = _batch(pad=1)
    z, t = logits.reshape(-1, 7), target.reshape(-1)
    torch.testing.assert_close(
        framework_loss("fairseq_legacy", z, t, 0.1, pad_index=1),
        F.cross_entropy(z, t, label_smoothing=0.1, ignore_index=1),
    )


def test_tensor2tensor_is_fairseq_minus_target_entropy():
    logits, target = _batch(pad=0)
    eps, v = 0.1, 7
    ce = framework_token_losses("fairseq", logits, target, eps, pad_index=0)
    kl = framework_token_losses("tensor2tensor", logits, target, eps, pad_index=0)
    h = -(
        0.9 * torch.log(torch.tensor(0.9, dtype=torch.float64))
        + eps * torch.log(torch.tensor(eps / (v - 1), dtype=torch.float64))
    )
    keep = target != 0
    torch.testing.assert_close(
        ce[keep] - kl[keep],
        torch.full((int(keep.sum()),), float(h), dtype=torch.float64),
    )
    assert (kl[~keep] == 0).all()


def test_opennmt_kl_and_its_gradient():
    logits, target = _batch(pad=0)
    eps = 0.2
    z = logits.clone().requires_grad_(True)
    kl = framework_token_losses("opennmt", z, target, eps, pad_index=0).sum()
    (g_kl,) = torch.autograd.grad(kl, z)
    ce = sequence_ls_loss(
        z,
        target,
        eps,
        pad_index=0,
        convention="off_target",
        normalize="sum",
        smooth_pad_column=False,
    )
    (g_ce,) = torch.autograd.grad(ce, z)
    torch.testing.assert_close(g_kl, g_ce)  # KL and CE differ by a constant
    # gradient = p - y on real positions, 0 on padded ones
    y = framework_targets("opennmt", target, 7, eps, pad_index=0)
    keep = (target != 0).unsqueeze(-1)
    torch.testing.assert_close(g_ce, (torch.softmax(logits, -1) - y) * keep)
    # KL >= 0 with equality at p = y
    y_rows = y[target != 0]
    at_opt = framework_token_losses(
        "opennmt",
        torch.log(y_rows.double().clamp_min(1e-30)),
        target[target != 0],
        eps,
        pad_index=0,
    )
    assert at_opt.abs().max() < 1e-8
    sents = framework_loss(
        "opennmt", logits, target, eps, pad_index=0, normalize="sentences"
    )
    torch.testing.assert_close(
        sents,
        framework_token_losses("opennmt", logits, target, eps, pad_index=0).sum() / 3,
    )


# ---------------------------------------------------------------- sequence loss


@pytest.mark.parametrize(
    "alpha,convention", [(0.0, "uniform"), (0.1, "uniform"), (0.1, "off_target")]
)
def test_sequence_tokens_equals_cross_entropy_ignore_index(alpha, convention):
    logits, target = _batch(pad=3)
    a = lsmath.alpha_from_eps(alpha, 7) if convention == "off_target" else alpha
    ref = F.cross_entropy(
        logits.reshape(-1, 7), target.reshape(-1), label_smoothing=a, ignore_index=3
    )
    got = sequence_ls_loss(logits, target, alpha, pad_index=3, convention=convention)
    torch.testing.assert_close(got, ref)
    ref_perm = F.cross_entropy(
        logits.permute(0, 2, 1), target, label_smoothing=a, ignore_index=3
    )
    torch.testing.assert_close(got, ref_perm)


def test_sequence_normalisations():
    logits, target = _batch(pad=0)
    total = sequence_ls_loss(logits, target, 0.1, pad_index=0, normalize="sum")
    n_tok = int((target != 0).sum())
    torch.testing.assert_close(
        sequence_ls_loss(logits, target, 0.1, pad_index=0), total / n_tok
    )
    torch.testing.assert_close(
        sequence_ls_loss(logits, target, 0.1, pad_index=0, normalize="sequences"),
        total / 3,
    )
    per = lsmath.ls_cross_entropy(
        logits.permute(0, 2, 1), target, 0.1, ignore_index=0, reduction="none"
    )
    lengths = (target != 0).sum(1)
    torch.testing.assert_close(
        sequence_ls_loss(logits, target, 0.1, pad_index=0, normalize="sequence_mean"),
        (per.sum(1) / lengths).mean(),
    )


def test_padding_never_receives_gradient_and_pad_column_optimum():
    logits, target = _batch(pad=0)
    z = logits.clone().requires_grad_(True)
    sequence_ls_loss(z, target, 0.1, pad_index=0).backward()
    assert (z.grad[target == 0] == 0).all()
    # optimum on a real position: p(pad column) = a / V with the pad column smoothed, 0 without
    for smooth_pad, expect in [(True, 0.1 / 7), (False, 0.0)]:
        y = (
            framework_targets("pytorch", torch.tensor([[4]]), 7, 0.1)
            if smooth_pad
            else framework_targets(
                "opennmt",
                torch.tensor([[4]]),
                7,
                lsmath.eps_from_alpha(0.1, 6),
                pad_index=0,
            )
        )
        assert float(y[0, 0, 0]) == pytest.approx(expect)


def test_sequence_bad_input():
    logits, target = _batch()
    with pytest.raises(ValueError, match=r"\(B, T, V\)"):
        sequence_ls_loss(logits[0], target[0], 0.1, pad_index=0)
    with pytest.raises(ValueError, match="normalize"):
        sequence_ls_loss(logits, target, 0.1, pad_index=0, normalize="batch")
    with pytest.raises(ValueError, match="target must have shape"):
        sequence_ls_loss(logits, target[:, :2], 0.1, pad_index=0)
    with pytest.raises(TypeError, match="pad_index"):
        sequence_ls_loss(logits, target, 0.1, pad_index=None)
    with pytest.raises(ValueError, match="pad_index"):
        sequence_ls_loss(logits, target, 0.1, pad_index=-100, smooth_pad_column=False)
    with pytest.raises(ValueError, match="convention"):
        sequence_ls_loss(logits, target, 0.1, pad_index=0, convention="szegedy")
    all_pad = torch.zeros_like(target)
    with pytest.raises(ValueError, match="sequence_mean"):
        sequence_ls_loss(logits, all_pad, 0.1, pad_index=0, normalize="sequence_mean")


@settings(max_examples=40, deadline=None)
@given(
    framework=st.sampled_from(MULTICLASS),
    v=st.integers(3, 12),
    s=st.floats(0.0, 0.9),
    seed=st.integers(0, 10_000),
)
def test_property_token_loss_is_ce_with_framework_target(framework, v, s, seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(6, v, generator=g, dtype=torch.float64)
    t = torch.randint(1, v, (6,), generator=g)
    t[0] = 0  # one padded position
    y = framework_targets(framework, t, v, s, pad_index=0)
    per = framework_token_losses(framework, z, t, s, pad_index=0)
    ce = -(y * torch.log_softmax(z, 1)).sum(1)
    if FRAMEWORKS[framework].value == "kl":
        assert (per <= ce + 1e-12).all() and (per >= -1e-9).all()
    else:
        torch.testing.assert_close(per, ce)
    assert per[0] == 0


def test_low_precision_and_dtype():
    logits, target = _batch(dtype=torch.float32)
    out = sequence_ls_loss(logits, target, 0.1, pad_index=0)
    assert out.dtype == torch.float32
    ref = sequence_ls_loss(logits.double(), target, 0.1, pad_index=0)
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-6)


def test_every_rule_is_documented():
    for rule in FRAMEWORKS.values():
        assert rule.convention in ("uniform", "off_target")
        assert rule.classes in ("all", "all_but_pad")
        assert rule.value in ("ce", "kl")
        assert "/" in rule.source  # a repository path
    assert set(itertools.chain(FRAMEWORKS)) >= {
        "pytorch",
        "keras_categorical",
        "keras_binary",
        "optax",
        "timm",
        "fairseq",
        "huggingface",
        "opennmt",
        "tensor2tensor",
    }


@pytest.mark.parametrize("framework", MULTICLASS)
def test_targets_agree_with_smooth_targets(framework):
    t = torch.tensor([1, 2, 3, 4])
    conv, s, k_eff = lsmath_equivalent(framework, 0.3, 5)
    y = framework_targets(framework, t, 5, 0.3, pad_index=0, dtype=torch.float64)
    if k_eff == 5:
        ref = lsmath.smooth_targets(t, 5, 0.3, conv).double()
    else:  # OpenNMT-py: columns 1..4 carry the K_eff = 4 target, column 0 (pad) is 0
        ref = torch.cat(
            [
                torch.zeros(4, 1, dtype=torch.float64),
                lsmath.smooth_targets(t - 1, 4, 0.3, conv).double(),
            ],
            1,
        )
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-7)
    assert (
        framework_targets(framework, t, 5, 0.3, pad_index=0).dtype
        == torch.get_default_dtype()
    )
