"""Run every chapter the way a reader in Colab would, under strict nbval.

For each notebook: lsmath is uninstalled from the virtual environment (so it
is *not* importable), the notebook is copied alone into an empty folder, and
strict nbval executes it there, top to bottom, comparing every stored output.
The chapter's own setup cell must install lsmath; ``LSMATH_PIP_SOURCE`` points
it at a wheel built from this checkout instead of the repository URL.

With ``--jobs 2`` two chapters run at a time, each in its own light
environment (a venv whose ``.pth`` file sees the packages of ``--venv``, into
which the setup cell installs lsmath), so that one chapter's install cannot
make lsmath importable for another before its setup cell.

Usage: python tests/run_notebooks.py --venv .venv [--jobs N] chapters/01_motivation.ipynb [...]
Prints one line per chapter with its wall time, then "N passed, M failed".
"""

from __future__ import annotations

import argparse
import concurrent.futures
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


def worker_env(venv: pathlib.Path, where: pathlib.Path) -> str:
    """A venv at ``where`` that sees every package of ``venv`` (through a .pth
    file) but has its own site-packages for lsmath. Returns its python."""
    base = run(
        [str(venv / "bin" / "python"), "-c", "import sys; print(sys.base_prefix)"]
    )
    subprocess.run(
        [
            f"{base.stdout.strip()}/bin/python3",
            "-m",
            "venv",
            "--without-pip",
            str(where),
        ],
        check=True,
    )
    python = where / "bin" / "python"
    paths = run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import site; print(site.getsitepackages()[0])",
        ]
    ).stdout.strip()
    own = run([str(python), "-c", "import site; print(site.getsitepackages()[0])"])
    (pathlib.Path(own.stdout.strip()) / "_shared_venv.pth").write_text(paths + "\n")
    return str(python)


def run_chapter(
    python: str, nb: pathlib.Path, tmp: pathlib.Path, env: dict
) -> tuple[bool, str]:
    """Strict nbval of one chapter, copied alone into an empty folder, with
    lsmath not importable until the chapter's setup cell installs it."""
    run([python, "-m", "pip", "uninstall", "-y", "-q", "lsmath"], env=env)
    work = tmp / nb.stem
    work.mkdir()
    probe = run([python, "-c", "import lsmath"], cwd=work, env=env)
    if probe.returncode == 0:
        return False, f"FAIL {nb.name}: lsmath is importable before the setup cell ran"
    shutil.copy(nb, work / nb.name)
    start = time.perf_counter()
    res = run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", nb.name],
        cwd=work,
        env=env,
    )
    seconds = time.perf_counter() - start
    installed = run([python, "-c", "import lsmath"], cwd=tmp, env=env).returncode == 0
    if res.returncode == 0 and installed:
        return True, f"ok   {nb.name} ({seconds:.0f} s)"
    why = "" if installed else " (the setup cell did not install lsmath)"
    return False, (
        f"FAIL {nb.name} ({seconds:.0f} s){why}\n{res.stdout[-6000:]}{res.stderr[-2000:]}"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--venv", default=".venv")
    ap.add_argument("--jobs", type=int, default=1, help="chapters run at a time")
    ap.add_argument("notebooks", nargs="+")
    args = ap.parse_args()
    venv = pathlib.Path(args.venv).resolve()
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MPLBACKEND")}
    notebooks = [pathlib.Path(nb).resolve() for nb in args.notebooks]
    results: dict[pathlib.Path, tuple[bool, str]] = {}
    with tempfile.TemporaryDirectory(prefix="lsmath-colab-") as tmp:
        tmp = pathlib.Path(tmp)
        wheel = build_wheel(python, tmp / "dist")
        env["LSMATH_PIP_SOURCE"] = f"{wheel}[book]"
        # lsmath must come from each chapter's setup cell, never from the venv.
        run([python, "-m", "pip", "uninstall", "-y", "-q", "lsmath"], env=env)
        jobs = max(1, min(args.jobs, len(notebooks)))
        pythons = (
            [python]
            if jobs == 1
            else [worker_env(venv, tmp / f"worker{k}") for k in range(jobs)]
        )
        queue = list(notebooks)

        def work(k: int) -> None:
            while True:
                try:
                    nb = queue.pop(0)  # atomic: the workers share the queue
                except IndexError:
                    return
                results[nb] = run_chapter(pythons[k], nb, tmp, env)
                print(results[nb][1], flush=True)

        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            list(pool.map(work, range(jobs)))
    passed = [nb for nb in notebooks if results.get(nb, (False,))[0]]
    failed = [nb for nb in notebooks if nb not in passed]
    print(f"{len(passed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
