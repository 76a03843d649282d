"""lsmath.notebook.glue (myst-nb format, also without myst-nb) and the
thread helpers of lsmath.training."""

from __future__ import annotations

import sys

import pytest
import torch

from lsmath import notebook
from lsmath.training import experiment_threads, torch_threads


def _captured(monkeypatch):
    calls = []
    import IPython.display

    monkeypatch.setattr(
        IPython.display, "display", lambda *a, **k: calls.append((a, k))
    )
    return calls


def test_glue_without_myst_nb_emits_myst_nb_format(monkeypatch):
    calls = _captured(monkeypatch)
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import fails, as in Colab
    notebook.glue("ch0_value", 0.25)
    ((bundle,), kwargs) = calls[0]
    assert bundle == {"application/papermill.record/text/plain": "0.25"}
    assert kwargs["raw"] is True
    assert kwargs["metadata"]["scrapbook"] == {
        "name": "ch0_value",
        "mime_prefix": "application/papermill.record/",
    }


def test_glue_fallback_equals_myst_nb(monkeypatch):
    calls = _captured(monkeypatch)
    import myst_nb.ext.glue as mg

    monkeypatch.setattr(mg, "ipy_display", lambda *a, **k: calls.append((a, k)))
    notebook.glue("k", 1.5)
    monkeypatch.setitem(sys.modules, "myst_nb", None)
    notebook.glue("k", 1.5)
    assert calls[0] == calls[1]


def test_glue_rejects_bad_name():
    with pytest.raises(TypeError, match="name"):
        notebook.glue("", 1)


def test_experiment_threads_from_environment(monkeypatch):
    monkeypatch.delenv("LSMATH_NUM_THREADS", raising=False)
    assert experiment_threads() == 1
    monkeypatch.setenv("LSMATH_NUM_THREADS", "2")
    assert experiment_threads() == 2
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("LSMATH_NUM_THREADS", bad)
        with pytest.raises(ValueError, match="LSMATH_NUM_THREADS"):
            experiment_threads()


def test_torch_threads_restores():
    before = torch.get_num_threads()
    with torch_threads(1) as n:
        assert n == torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        with torch_threads(0):
            pass
