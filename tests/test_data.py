"""lsmath.data: the offline datasets (shapes, dtypes, determinism, balance, errors)."""

import numpy as np
import pytest
import torch

from lsmath.data import (
    Split,
    load_digits_split,
    make_mnist1d_split,
    make_separable_2d,
    standardise,
)


def _check_split(s: Split, sizes, num_classes, num_features):
    parts = [(s.x_train, s.y_train), (s.x_val, s.y_val), (s.x_test, s.y_test)]
    for (x, y), n in zip(parts, sizes):
        assert x.shape == (n, num_features) and x.dtype == torch.float32
        assert y.shape == (n,) and y.dtype == torch.int64
        assert bool(torch.isfinite(x).all())
    assert s.num_classes == num_classes and s.num_features == num_features
    assert int(s.y_train.min()) >= 0 and int(s.y_train.max()) < num_classes


def _same(a: Split, b: Split) -> bool:
    return all(
        torch.equal(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__
    )


def test_digits_split_shapes_standardised_and_balanced():
    s = load_digits_split(seed=0)
    _check_split(s, (1000, 297, 500), 10, 64)
    mean, std = s.x_train.mean(0), s.x_train.std(0, unbiased=False)
    assert float(mean.abs().max()) < 1e-5
    varying = std > 0
    assert torch.allclose(std[varying], torch.ones(int(varying.sum())), atol=1e-4)
    counts = torch.bincount(s.y_train, minlength=10)
    assert int(counts.min()) >= 0.7 * 1000 / 10  # every class well represented


def test_digits_split_determinism_and_class_subset():
    assert _same(load_digits_split(seed=3), load_digits_split(seed=3))
    assert not torch.equal(
        load_digits_split(seed=3).y_train, load_digits_split().y_train
    )
    sub = load_digits_split(classes=[3, 8], seed=0)
    assert set(sub.y_train.tolist()) == {0, 1}  # re-indexed in the given order
    total = sub.x_train.shape[0] + sub.x_val.shape[0] + sub.x_test.shape[0]
    assert total <= 400  # capped to what the two classes have


def test_mnist1d_split_shapes_determinism_and_balance():
    a = make_mnist1d_split(300, 50, 100, seed=1)
    _check_split(a, (300, 50, 100), 10, 40)
    assert _same(a, make_mnist1d_split(300, 50, 100, seed=1))
    counts = torch.bincount(a.y_train, minlength=10)
    assert int(counts.min()) >= 0.5 * 300 / 10


def test_separable_2d():
    x, y = make_separable_2d(50, margin=0.3, seed=4)
    assert x.shape == (50, 2) and x.dtype == torch.float64 and y.dtype == torch.int64
    assert set(y.tolist()) == {0, 1}
    normal = torch.tensor([1.0, -0.5], dtype=torch.float64)
    normal = normal / normal.norm()
    signed = (x @ normal) * (2 * y - 1)
    assert float(signed.min()) >= 0.3 - 1e-12  # separable with the margin
    x2, y2 = make_separable_2d(50, margin=0.3, seed=4)
    assert torch.equal(x, x2) and torch.equal(y, y2)


def test_standardise_uses_training_statistics():
    a = np.array([[1.0, 5.0], [3.0, 5.0]])
    b = np.array([[2.0, 6.0]])
    sa, sb = standardise(a, b)
    np.testing.assert_allclose(sa, [[-1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(sb, [[0.0, 1.0]])  # constant feature: scale 1


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: load_digits_split(5000, 0, 0), ValueError, "at most"),
        (lambda: load_digits_split(0, 10, 10), ValueError, "n_train"),
        (lambda: load_digits_split(10, -1, 10), ValueError, "n_val"),
        (lambda: load_digits_split(10.0, 1, 1), TypeError, "n_train"),
        (lambda: load_digits_split(seed=-1), ValueError, "seed"),
        (lambda: make_mnist1d_split(10, 1, True), TypeError, "n_test"),
        (lambda: make_separable_2d(0), ValueError, "n"),
        (lambda: make_separable_2d(5, margin=-0.1), ValueError, "margin"),
        (lambda: make_separable_2d(5, margin=float("inf")), ValueError, "margin"),
        (lambda: make_separable_2d(5, seed=1.5), TypeError, "seed"),
    ],
)
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()
