"""The one reduction of per-row losses, as ``torch.nn.functional`` reduces them."""

from __future__ import annotations

import torch


def reduce_rows(per_row: torch.Tensor, reduction: str, denom=None) -> torch.Tensor:
    """``"none"``: ``per_row``; ``"sum"``: its sum; ``"mean"``: ``sum / denom``.

    Without ``denom`` the mean is over all rows (``per_row.mean()``);
    ``F.cross_entropy`` divides by the summed weight of the non-ignored targets
    instead, which the caller passes as ``denom``. ``reduction`` is assumed
    checked (``_validation.check_reduction``).
    """
    if reduction == "none":
        return per_row
    if reduction == "sum":
        return per_row.sum()
    return per_row.mean() if denom is None else per_row.sum() / denom
