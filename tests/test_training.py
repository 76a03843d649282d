"""lsmath.training: the tiny training loops, seeded and thread-safe."""

import pytest
import torch

from lsmath.losses import ls_cross_entropy
from lsmath.training import (
    THREADS_ENV,
    TrainHistory,
    accuracy,
    experiment_threads,
    make_mlp,
    predict_logits,
    torch_threads,
    train_classifier,
    weight_norm,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.py


def _blobs(n=60, seed=0):
    """Three well-separated Gaussian blobs in 4-D (an easy classification problem)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.eye(3, 4) * 4
    x = centres[y] + torch.randn(n, 4, generator=g)
    return x, y


def test_make_mlp_shapes():
    model = make_mlp([5, 7, 3, 2])
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (5, 7),
        (7, 3),
        (3, 2),
    ]
    assert sum(isinstance(m, torch.nn.ReLU) for m in model) == 2  # none after the last
    assert model(torch.zeros(4, 5)).shape == (4, 2)


def test_make_mlp_seeding_is_deterministic_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = (
        make_mlp([4, 8, 3], seed=1),
        make_mlp([4, 8, 3], seed=1),
        make_mlp([4, 8, 3], seed=2),
    )
    assert torch.equal(torch.rand(1), before)  # global stream unchanged
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(a[0].weight, c[0].weight)


def test_make_mlp_rejects_too_few_sizes():
    with pytest.raises(ValueError, match="sizes"):
        make_mlp([3])


def test_train_classifier_decreases_the_loss_and_is_reproducible():
    x, y = _blobs()
    runs = []
    for _ in range(2):
        model = make_mlp([4, 16, 3], seed=0)
        hist = train_classifier(
            model, x, y, alpha=0.1, epochs=15, lr=1e-2, batch_size=16
        )
        runs.append((hist, model))
    hist = runs[0][0]
    assert isinstance(hist, TrainHistory)
    assert len(hist.loss) == len(hist.max_prob) == len(hist.weight_norm) == 15
    assert hist.loss[-1] < 0.5 * hist.loss[0]
    assert accuracy(predict_logits(runs[0][1], x), y) > 0.9
    assert hist.loss == runs[1][0].loss  # same seed, same numbers


def test_train_classifier_records_extra_metrics_and_custom_loss():
    x, y = _blobs(n=30)
    model = make_mlp([4, 3], seed=0)
    calls = []

    def loss_fn(z, t):
        calls.append(t.shape[0])
        return torch.nn.functional.cross_entropy(z, t)

    hist = train_classifier(
        model,
        x,
        y,
        epochs=2,
        batch_size=10,
        loss_fn=loss_fn,
        on_epoch=lambda epoch, m: {"epoch": epoch},
    )
    assert hist.extra == {"epoch": [0, 1]}
    assert calls == [10, 10, 10] * 2


def test_train_classifier_errors():
    x, y = _blobs(n=12)
    model = make_mlp([4, 3])
    with pytest.raises(ValueError, match="same number of rows"):
        train_classifier(model, x, y[:5])
    with pytest.raises(ValueError, match="epochs"):
        train_classifier(model, x, y, epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        train_classifier(model, x, y, batch_size=0)


def test_experiment_threads_reads_the_environment(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert experiment_threads() == 1
    monkeypatch.setenv(THREADS_ENV, "3")
    assert experiment_threads() == 3
    for bad in ("0", "-2", "two", "1.5", ""):
        monkeypatch.setenv(THREADS_ENV, bad)
        with pytest.raises(ValueError, match=THREADS_ENV):
            experiment_threads()


def test_torch_threads_restores_the_count(monkeypatch):
    before = torch.get_num_threads()
    with torch_threads(2) as n:
        assert n == 2 == torch.get_num_threads()
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(2):  # restored after an error too
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    monkeypatch.setenv(THREADS_ENV, "2")
    with torch_threads() as n:  # None: the experiment count
        assert n == 2
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="threads"), torch_threads(bad):
            pass
    assert torch.get_num_threads() == before


def test_accuracy():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, -1.0], [0.0, 5.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1, 1])) == 0.75


def test_predict_logits_no_grad_eval_mode_and_restores_training():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Dropout(0.5))
    x = torch.randn(5, 3)
    model.train()
    out = predict_logits(model, x)
    assert not out.requires_grad
    assert model.training  # restored
    torch.testing.assert_close(out, model[0](x).detach())  # dropout off (eval)
    model.eval()
    predict_logits(model, x)
    assert not model.training


def test_weight_norm_counts_weights_not_biases():
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.fill_(100.0)
    assert weight_norm(model) == pytest.approx(2.0)


def test_train_stacked_members_records_losses_and_epochs():
    """The shared batched loop: (epochs, M) mean losses, after_epoch per epoch."""
    from lsmath.applications import EnsembleMLP
    from lsmath.training import _train_stacked_members

    x, y = _blobs(30)
    targets = torch.stack([y, (y + 1) % 3])  # (M, N): two label sets

    def member_losses(logits, t):
        return torch.stack([ls_cross_entropy(logits[m], t[m]) for m in range(2)])

    net = EnsembleMLP(2, [4, 3], seed=0)
    with torch.no_grad():
        first = member_losses(net(x.expand(2, -1, -1)), targets)
    seen = []
    losses = _train_stacked_members(
        net, x, targets, member_losses, epochs=3, batch_size=None, lr=0.1,
        seeds=[0, 1], after_epoch=seen.append,
    )  # fmt: skip
    assert losses.shape == (3, 2) and seen == [0, 1, 2]
    assert torch.equal(losses[0], first)  # full batch: the loss before step 1
    assert (losses[-1] < losses[0]).all()
    for bad, match in [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": -1.0}, "lr"),
        ({"seeds": [0]}, "seeds"),
    ]:
        args = dict(epochs=1, batch_size=8, lr=0.1, seeds=[0, 1]) | bad
        with pytest.raises(ValueError, match=match):
            _train_stacked_members(net, x, targets, member_losses, **args)
