"""Packaging (issue 18).

Core dependencies torch and numpy only; extras named in errors; py.typed.
"""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BLOCK = (
    "import sys\n"
    "for m in ('sympy', 'scipy', 'matplotlib', 'sklearn', 'mnist1d'):\n"
    "    sys.modules[m] = None\n"
)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK + code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_import_with_core_dependencies_only():
    code = (
        "import torch, lsmath, lsmath.nn\n"
        "z = torch.tensor([[2.0, 0.0, 0.0]])\n"
        "print(round(lsmath.ls_cross_entropy(z, torch.tensor([0]), 0.1).item(), 4))\n"
        "try:\n    import lsmath.symbolic\nexcept ImportError as e:\n    print(e)\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert "0.3729" in out.stdout
    assert "lsmath[symbolic]" in out.stdout


def test_plot_error_names_the_extra():
    code = (
        "import numpy as np, lsmath\n"
        "lsmath.reliability_diagram(np.array([[0.9, 0.1]]), np.array([0]))\n"
    )
    out = _run(code)
    assert out.returncode != 0
    assert "lsmath[plot]" in out.stderr


def test_py_typed_and_declared_dependencies():
    assert (ROOT / "lsmath" / "py.typed").exists()
    tomllib = pytest.importorskip("tomllib")
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = {
        d.split(">")[0].split("=")[0].strip() for d in meta["project"]["dependencies"]
    }
    assert deps == {"numpy", "torch"}
    extras = meta["project"]["optional-dependencies"]
    assert {"symbolic", "plot", "book"} <= set(extras)
    book = " ".join(extras["book"])
    for name in ("sympy", "scipy", "matplotlib"):
        assert name in book
    assert "py.typed" in meta["tool"]["setuptools"]["package-data"]["lsmath"]
