"""Execute chapters in place (storing their outputs) and strip execution metadata.

Stored outputs come from one clean top-to-bottom run with the default numeric
path of this machine and ``LSMATH_NUM_THREADS`` unset (1 thread). Execution
timestamps are removed so that a one-line edit diffs as one line.

Usage:  python tools/run_chapter.py chapters/01_motivation.ipynb [...]
        python tools/run_chapter.py --strip-only chapters/*.ipynb
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]


def strip_metadata(nb: nbformat.NotebookNode) -> None:
    """Drop per-cell execution timestamps and unstable kernel metadata."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
    nb.metadata.pop("widgets", None)


def execute(path: pathlib.Path) -> float:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env_before = dict(os.environ)
    os.environ["PYTHONPATH"] = str(ROOT)
    os.environ.pop("LSMATH_NUM_THREADS", None)
    os.environ.pop("MPLBACKEND", None)
    try:
        start = time.perf_counter()
        NotebookClient(
            nb,
            timeout=900,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
        seconds = time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    strip_metadata(nb)
    nbformat.write(nb, path)
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--strip-only", action="store_true")
    ap.add_argument("notebooks", nargs="+")
    args = ap.parse_args()
    for name in args.notebooks:
        path = pathlib.Path(name).resolve()
        if args.strip_only:
            nb = nbformat.read(path, as_version=4)
            strip_metadata(nb)
            nbformat.write(nb, path)
            print(f"stripped {path.name}")
        else:
            print(f"executed {path.name} in {execute(path):.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
