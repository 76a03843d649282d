"""Run chapters under every numeric path and report which ones fail.

A numeric path is a choice of torch CPU kernels (``ATEN_CPU_CAPABILITY``:
``default`` = unvectorised, ``avx2``) and a thread count
(``LSMATH_NUM_THREADS``: 1 or 2). Each changes every small training run, so a
chapter passes here only if its asserted conclusions hold on any of them.
Each combination runs ``tests/run_notebooks.py`` (strict nbval, Colab-like).

Usage: python tests/portability.py --venv .venv chapters/*.ipynb
Prints a table of chapter x path, then "N passed, M failed" over all runs.
"""

from __future__ import annotations

import argparse
import itertools
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
CAPABILITIES = ("default", "avx2")
THREADS = (1, 2)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--venv", default=".venv")
    ap.add_argument("notebooks", nargs="+")
    args = ap.parse_args()
    results: dict[tuple[str, str], str] = {}
    for cap, threads in itertools.product(CAPABILITIES, THREADS):
        path = f"{cap}/{threads}t"
        env = dict(os.environ, ATEN_CPU_CAPABILITY=cap, LSMATH_NUM_THREADS=str(threads))
        print(f"== numeric path {path}", flush=True)
        res = subprocess.run(
            [
                sys.executable,
                str(ROOT / "tests" / "run_notebooks.py"),
                "--venv",
                args.venv,
                *args.notebooks,
            ],
            env=env,
            text=True,
            capture_output=True,
        )
        print(res.stdout[-20000:], res.stderr[-2000:], flush=True)
        for line in res.stdout.splitlines():
            m = re.match(r"(ok  |FAIL) (\S+\.ipynb)", line)
            if m:
                results[(m.group(2), path)] = (
                    "ok" if m.group(1).strip() == "ok" else "FAIL"
                )
    paths = [f"{c}/{t}t" for c, t in itertools.product(CAPABILITIES, THREADS)]
    names = sorted({nb for nb, _ in results})
    print("\nchapter".ljust(32) + "".join(p.ljust(12) for p in paths))
    for nb in names:
        print(
            nb.ljust(31) + "".join(results.get((nb, p), "?").ljust(12) for p in paths)
        )
    failed = sum(v != "ok" for v in results.values())
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
