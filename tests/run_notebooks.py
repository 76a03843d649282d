"""Run every chapter the way a reader in Colab would, under strict nbval.

For each notebook: lsmath is uninstalled from the virtual environment (so it
is *not* importable), the notebook is copied alone into an empty folder, and
strict nbval executes it there, top to bottom, comparing every stored output.
The chapter's own setup cell must install lsmath; ``LSMATH_PIP_SOURCE`` points
it at a wheel built from this checkout instead of the repository URL.

Usage: python tests/run_notebooks.py --venv .venv chapters/01_motivation.ipynb [...]
Prints one line per chapter with its wall time, then "N passed, M failed".
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, text=True, capture_output=True, **kw)


def build_wheel(python: str, outdir: pathlib.Path) -> pathlib.Path:
    has_setuptools = run([python, "-c", "import setuptools"]).returncode == 0
    cmd = [
        python,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "-w",
        str(outdir),
        str(ROOT),
    ]
    if has_setuptools:
        cmd.insert(4, "--no-build-isolation")
    res = run(cmd)
    if res.returncode:
        sys.exit("building the lsmath wheel failed:\n" + res.stdout + res.stderr)
    (wheel,) = outdir.glob("lsmath-*.whl")
    return wheel


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--venv", default=".venv")
    ap.add_argument("notebooks", nargs="+")
    args = ap.parse_args()
    python = str(pathlib.Path(args.venv).resolve() / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MPLBACKEND")}
    passed, failed = [], []
    with tempfile.TemporaryDirectory(prefix="lsmath-colab-") as tmp:
        tmp = pathlib.Path(tmp)
        wheel = build_wheel(python, tmp / "dist")
        env["LSMATH_PIP_SOURCE"] = f"{wheel}[book]"
        for nb in args.notebooks:
            nb = pathlib.Path(nb).resolve()
            run([python, "-m", "pip", "uninstall", "-y", "-q", "lsmath"], env=env)
            work = tmp / nb.stem
            work.mkdir()
            probe = run([python, "-c", "import lsmath"], cwd=work, env=env)
            if probe.returncode == 0:
                print(f"FAIL {nb.name}: lsmath is importable before the setup cell ran")
                failed.append(nb.name)
                continue
            shutil.copy(nb, work / nb.name)
            start = time.perf_counter()
            res = run(
                [
                    python,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "--nbval",
                    nb.name,
                ],
                cwd=work,
                env=env,
            )
            seconds = time.perf_counter() - start
            installed = (
                run([python, "-c", "import lsmath"], cwd=tmp, env=env).returncode == 0
            )
            if res.returncode == 0 and installed:
                print(f"ok   {nb.name} ({seconds:.0f} s)")
                passed.append(nb.name)
            else:
                why = "" if installed else " (the setup cell did not install lsmath)"
                print(
                    f"FAIL {nb.name} ({seconds:.0f} s){why}\n"
                    f"{res.stdout[-6000:]}{res.stderr[-2000:]}"
                )
                failed.append(nb.name)
    print(f"{len(passed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
