"""train_mlps_batched: M networks trained at once equal M runs of train_classifier."""

import pytest
import torch

from lsmath import smooth_targets
from lsmath.applications import train_mlps_batched
from lsmath.training import make_mlp, train_classifier


def soft_ce(logits, targets):
    return -(targets * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


def test_equals_separate_train_classifier_runs():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(50, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (50,), generator=gen)
    alphas, seeds = [0.0, 0.2, 0.1], [0, 1, 1]
    targets = torch.stack(
        [smooth_targets(y, 3, a, dtype=torch.float64) for a in alphas]
    )
    batched = [make_mlp([4, 8, 8, 3], seed=s).double() for s in seeds]
    seen = []

    def on_epoch(epoch, ens):
        seen.append(tuple(ens(x.expand(3, -1, -1)).shape))
        return {"epoch": epoch}

    rec = train_mlps_batched(
        batched,
        x,
        targets,
        seeds=seeds,
        epochs=3,
        batch_size=16,
        lr=1e-2,
        on_epoch=on_epoch,
    )
    assert rec == [{"epoch": 0}, {"epoch": 1}, {"epoch": 2}]
    assert seen == [(3, 50, 3)] * 3
    for net, t, s in zip(batched, targets, seeds):
        ref = make_mlp([4, 8, 8, 3], seed=s).double()
        train_classifier(
            ref, x, t, epochs=3, batch_size=16, lr=1e-2, seed=s, loss_fn=soft_ce
        )
        for p, q in zip(net.parameters(), ref.parameters()):
            assert torch.allclose(p, q, atol=1e-10)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"seeds": [0]}, "seeds"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 1.5}, "batch_size"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, match):
    nets = [make_mlp([2, 4, 3], seed=s) for s in (0, 1)]
    args = dict(seeds=[0, 1], epochs=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        train_mlps_batched(nets, torch.zeros(5, 2), torch.zeros(2, 5, 3), **args)


def test_bad_shapes_name_the_argument():
    nets = [make_mlp([2, 4, 3], seed=s) for s in (0, 1)]
    with pytest.raises(ValueError, match="targets"):
        train_mlps_batched(
            nets, torch.zeros(5, 2), torch.zeros(2, 5, 4), seeds=[0, 1], epochs=1
        )
    with pytest.raises(ValueError, match="x must"):
        train_mlps_batched(
            nets, torch.zeros(5, 3), torch.zeros(2, 5, 3), seeds=[0, 1], epochs=1
        )
    with pytest.raises(ValueError, match="same layer sizes"):
        mixed = [make_mlp([2, 4, 3]), make_mlp([2, 5, 3])]
        train_mlps_batched(
            mixed, torch.zeros(5, 2), torch.zeros(2, 5, 3), seeds=[0, 1], epochs=1
        )
