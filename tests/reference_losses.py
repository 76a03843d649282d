"""The plain, unchunked label-smoothed cross-entropy that the kernels are tested against.

Written straight from the formula, in float64, with no chunking, no custom
backward and no special paths (as ml-cross-entropy keeps a plain reference
beside its kernels)::

    y_n    = (1 - a) onehot(t_n) + a / K
    loss_n = -sum_k w_k y_nk log softmax(z_n)_k     (0 where t_n = ignore_index)

``"mean"`` divides by ``sum_n w_{t_n}`` over the kept rows, as
``F.cross_entropy`` does.
"""

from __future__ import annotations

import torch


def reference_ls_cross_entropy(
    logits, target, alpha, *, weight=None, ignore_index=-100, reduction="mean"
):
    """Uniform-convention LS cross-entropy of ``(N, K)`` logits, in float64."""
    z = logits.double()
    k = z.shape[1]
    keep = target != ignore_index
    safe = torch.where(keep, target, 0).long()
    y = (1 - alpha) * torch.nn.functional.one_hot(safe, k).double() + alpha / k
    w = torch.ones(k, dtype=torch.float64) if weight is None else weight.double()
    per_row = -(w * y * torch.log_softmax(z, dim=1)).sum(dim=1) * keep
    if reduction == "none":
        return per_row
    if reduction == "sum":
        return per_row.sum()
    return per_row.sum() / (w[safe] * keep).sum()


def reference_ls_linear_cross_entropy(hidden, weight, target, alpha, **kwargs):
    """:func:`reference_ls_cross_entropy` of the logits ``hidden @ weight.T``."""
    logits = hidden.double() @ weight.double().T
    return reference_ls_cross_entropy(logits, target, alpha, **kwargs)
