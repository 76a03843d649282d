"""lsmath.nn.LabelSmoothingCrossEntropy as a drop-in for torch.nn.CrossEntropyLoss."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from lsmath.nn import LabelSmoothingCrossEntropy


def _data(shape=(7,), k=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    n, *rest = shape
    z = torch.randn((n, k, *rest), generator=g, dtype=dtype)
    t = torch.randint(0, k, (n, *rest), generator=g)
    t.view(-1)[1] = -100
    return z, t


@pytest.mark.parametrize(
    "alpha,reduction,use_weight,shape",
    list(
        itertools.product(
            [0.0, 0.1, 1.0], ["mean", "sum", "none"], [False, True], [(7,), (3, 2)]
        )
    ),
)
def test_drop_in_for_cross_entropy_loss(alpha, reduction, use_weight, shape):
    z, t = _data(shape)
    w = torch.linspace(0.2, 1.8, 5, dtype=torch.float64) if use_weight else None
    ours = LabelSmoothingCrossEntropy(
        weight=w, reduction=reduction, label_smoothing=alpha
    )
    ref = torch.nn.CrossEntropyLoss(
        weight=w, reduction=reduction, label_smoothing=alpha
    )
    torch.testing.assert_close(ours(z, t), ref(z, t), rtol=1e-12, atol=1e-12)
    q = torch.softmax(torch.randn_like(z), 1)
    torch.testing.assert_close(ours(z, q), ref(z, q), rtol=1e-12, atol=1e-12)


def test_same_constructor_state_and_gradients():
    w = torch.tensor([1.0, 2.0, 0.5])
    ours = LabelSmoothingCrossEntropy(
        w, None, 2, None, "sum", 0.2
    )  # positional, as PyTorch's
    ref = torch.nn.CrossEntropyLoss(w, None, 2, None, "sum", 0.2)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    assert (ours.ignore_index, ours.reduction, ours.label_smoothing) == (2, "sum", 0.2)
    z = torch.randn(6, 3, requires_grad=True)
    t = torch.tensor([0, 1, 2, 2, 1, 0])
    (g1,) = torch.autograd.grad(ours(z, t), z)
    (g2,) = torch.autograd.grad(ref(z, t), z)
    torch.testing.assert_close(g1, g2)
    assert ours.double().weight.dtype == torch.float64  # buffers move with the module


def test_legacy_size_average_and_reduce():
    z, t = _data()
    for kw in ({"size_average": False}, {"reduce": False}):
        torch.testing.assert_close(
            LabelSmoothingCrossEntropy(label_smoothing=0.1, **kw)(z, t),
            torch.nn.CrossEntropyLoss(label_smoothing=0.1, **kw)(z, t),
        )


def test_convention_and_prior():
    z, t = _data()
    keep = t != -100
    off = LabelSmoothingCrossEntropy(label_smoothing=0.1, convention="off_target")(z, t)
    torch.testing.assert_close(off, F.cross_entropy(z, t, label_smoothing=0.1 * 5 / 4))
    prior = torch.tensor([0.4, 0.3, 0.1, 0.1, 0.1], dtype=torch.float64)
    crit = LabelSmoothingCrossEntropy(label_smoothing=0.3, prior=prior)
    y = 0.7 * F.one_hot(t[keep], 5).double() + 0.3 * prior
    torch.testing.assert_close(crit(z, t), F.cross_entropy(z[keep], y))
    assert "prior" in crit.state_dict()


def test_bad_arguments():
    with pytest.raises(ValueError, match="reduction"):
        LabelSmoothingCrossEntropy(reduction="avg")
    with pytest.raises(TypeError, match="ignore_index"):
        LabelSmoothingCrossEntropy(ignore_index=1.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        LabelSmoothingCrossEntropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match="convention"):
        LabelSmoothingCrossEntropy(convention="szegedy")
    with pytest.raises(ValueError, match="prior"):
        LabelSmoothingCrossEntropy(prior=[0.5, 0.6])
