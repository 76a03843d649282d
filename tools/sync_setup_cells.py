"""Write every chapter's first code cell (the setup cell) from ``_config.yml``.

The setup cell installs ``lsmath`` only when it is not importable (as in a
fresh Colab runtime), from the repository URL and ref given once in
``_config.yml``'s ``repository`` block, so that a chapter installs the library
of the same ref it came from. ``LSMATH_PIP_SOURCE`` overrides the source (the
Colab-like test points it at a locally built wheel). It never installs torch
or numpy: Colab brings its own.

Usage:  python tools/sync_setup_cells.py [--check]
"""

from __future__ import annotations

import json
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
SETUP_TAG = "setup"


def setup_source() -> str:
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repo = cfg["repository"]
    url, ref = repo["url"].rstrip("/"), repo.get("branch", "main")
    # Written as `ruff format` leaves it, so the linter passes on every chapter.
    assignment = f'LSMATH_SOURCE = "lsmath[book] @ git+{url}@{ref}"'
    if len(assignment) > 88:
        assignment = f'LSMATH_SOURCE = (\n    "lsmath[book] @ git+{url}@{ref}"\n)'
    return (
        "# Setup (local and Colab): install the book's library `lsmath` if missing.\n"
        "import importlib.util\n"
        "import os\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        f"{assignment}\n"
        'if importlib.util.find_spec("lsmath") is None:\n'
        '    source = os.environ.get("LSMATH_PIP_SOURCE", LSMATH_SOURCE)\n'
        '    cmd = [sys.executable, "-m", "pip", "install", "-q", source]\n'
        "    subprocess.run(cmd, check=True)"
    )


def setup_cell() -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {
            "tags": [SETUP_TAG, "hide-input", "remove-output", "nbval-ignore-output"]
        },
        "outputs": [],
        "source": setup_source().splitlines(keepends=True),
    }


def chapter_paths() -> list[pathlib.Path]:
    return sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))


def first_code_cell(nb: dict) -> dict | None:
    return next((c for c in nb["cells"] if c["cell_type"] == "code"), None)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    expected = setup_source()
    stale = []
    for path in chapter_paths():
        nb = json.loads(path.read_text(encoding="utf-8"))
        cell = first_code_cell(nb)
        if cell is not None and "".join(cell["source"]) == expected:
            continue
        stale.append(path.name)
        if check:
            continue
        if cell is not None and SETUP_TAG in cell.get("metadata", {}).get("tags", []):
            cell["source"] = setup_cell()["source"]
        else:
            idx = next(
                (i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"),
                len(nb["cells"]),
            )
            nb["cells"].insert(idx, setup_cell())
        path.write_text(
            json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    if check and stale:
        print(
            "setup cell out of date in: "
            + ", ".join(stale)
            + " (run tools/sync_setup_cells.py)"
        )
        return 1
    print(
        "setup cells "
        + ("checked" if check else "written")
        + f": {len(chapter_paths())} chapters"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
