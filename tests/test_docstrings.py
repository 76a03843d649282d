"""Every public parameter of lsmath is documented (issue 20, the API reference).

For each public name of each lsmath module (its ``__all__``, or else the public
functions and classes defined in it) and of ``lsmath`` itself, every parameter
of the signature (except ``self``, ``*args`` and ``**kwargs``) must have an
entry in the Google-style ``Args:`` section of the docstring (for a class: of
the class docstring or of ``__init__``; public methods defined in the class are
checked the same way), and a function that returns a value must have a
``Returns:`` (or ``Yields:``) section. The API pages render these sections
through Sphinx napoleon.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import textwrap
from dataclasses import is_dataclass

import lsmath

# Google-style section headers that napoleon recognises (a line of its own,
# ending in a colon, at the docstring's base indentation).
SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Keyword Args|Keyword Arguments|Returns|Return|"
    r"Yields|Yield|Raises|Example|Examples|Note|Notes|References|See Also|"
    r"Warning|Warnings|Attributes|Methods|Todo):\s*$"
)
ARGS_HEADERS = {"Args", "Arguments", "Parameters", "Keyword Args", "Keyword Arguments"}
# A dataclass's (or NamedTuple's) constructor parameters are its fields:
# ``Attributes:`` (rendered as ``:ivar:``, napoleon_use_ivar in _config.yml)
# documents them as well.
FIELD_HEADERS = ARGS_HEADERS | {"Attributes"}
RETURNS_HEADERS = {"Returns", "Return", "Yields", "Yield"}
# An entry: ``name: text`` or ``name (type): text`` (``*args``/``**kw`` allowed).
ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(\([^)]*\))?\s*:")


def sections(doc: str) -> dict[str, list[str]]:
    """Google-style sections of a cleaned docstring: header -> body lines."""
    out: dict[str, list[str]] = {}
    current = None
    for line in doc.splitlines():
        m = SECTION.match(line)
        if m:
            current = m.group(1)
            out.setdefault(current, [])
        elif current is not None:
            if line and not line[0].isspace():
                current = None  # back at the base indentation: section over
            else:
                out[current].append(line)
    return out


def documented_args(doc: str, headers=ARGS_HEADERS) -> set[str]:
    """Names with an entry in the docstring's sections ``headers`` (Args-like)."""
    names: set[str] = set()
    for header, body in sections(doc).items():
        if header not in headers:
            continue
        body = textwrap.dedent("\n".join(body)).splitlines()
        for line in body:
            if line and not line[0].isspace():
                m = ENTRY.match(line)
                if m:
                    names.add(m.group(1))
    return names


def has_returns(doc: str) -> bool:
    secs = sections(doc)
    return any(h in secs and any(s.strip() for s in secs[h]) for h in RETURNS_HEADERS)


def parameters(func) -> list[str]:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in sig.parameters.values()
        if p.name not in ("self", "cls")
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def returns_value(func) -> bool:
    """Whether the function's own body returns (or yields) a value."""
    func = inspect.unwrap(func)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return True
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return True

    def walk(n):  # not into nested functions, lambdas or classes
        for child in ast.iter_child_nodes(n):
            if isinstance(
                child,
                ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef,
            ):
                continue
            yield child
            yield from walk(child)

    for n in walk(node):
        if isinstance(n, ast.Yield | ast.YieldFrom):
            return True
        if isinstance(n, ast.Return) and n.value is not None:
            if not (isinstance(n.value, ast.Constant) and n.value.value is None):
                return True
    return False


def is_record(cls) -> bool:
    """A dataclass or NamedTuple: its constructor parameters are its fields."""
    return is_dataclass(cls) or (issubclass(cls, tuple) and hasattr(cls, "_fields"))


def modules():
    mods = [lsmath]
    for info in pkgutil.iter_modules(lsmath.__path__):
        if not info.name.startswith("_"):
            mods.append(importlib.import_module(f"lsmath.{info.name}"))
    return mods


def public_names(mod) -> list[str]:
    if hasattr(mod, "__all__"):
        return list(mod.__all__)
    return [
        name
        for name, obj in vars(mod).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == mod.__name__
    ]


def targets():
    """(id, callable, docstring, Args-like headers, whether Returns is required)."""
    seen: set[tuple[str, str]] = set()
    for mod in modules():
        for name in public_names(mod):
            obj = getattr(mod, name)
            key = (getattr(obj, "__module__", ""), getattr(obj, "__qualname__", name))
            if key in seen:
                continue
            seen.add(key)
            label = f"{key[0]}.{key[1]}"
            if inspect.isclass(obj):
                init = vars(obj).get("__init__")
                doc = (
                    (inspect.getdoc(obj) or "")
                    + "\n"
                    + inspect.cleandoc(getattr(init, "__doc__", None) or "")
                )
                fields = FIELD_HEADERS if is_record(obj) else ARGS_HEADERS
                yield label, obj, doc, fields, False  # the constructor's signature
                for meth_name, meth in vars(obj).items():
                    if meth_name.startswith("_") or not inspect.isfunction(meth):
                        continue
                    yield (
                        f"{label}.{meth_name}",
                        meth,
                        inspect.getdoc(meth) or "",
                        ARGS_HEADERS,
                        returns_value(meth),
                    )
            elif inspect.isfunction(obj):
                doc = inspect.getdoc(obj) or ""
                yield label, obj, doc, ARGS_HEADERS, returns_value(obj)


def findings() -> list[str]:
    problems = []
    for label, func, doc, headers, needs_returns in targets():
        documented = documented_args(doc, headers)
        missing = [p for p in parameters(func) if p not in documented]
        if missing:
            problems.append(f"{label}: no Args entry for {', '.join(missing)}")
        if needs_returns and not has_returns(doc):
            problems.append(f"{label}: no Returns section")
        if re.search(r"[\x00-\x08\x0b-\x1f]", doc):  # "\alpha" in a non-raw string
            problems.append(f"{label}: control character (r-prefix the docstring)")
    return problems


def test_parser_reads_google_sections():
    doc = inspect.cleandoc(
        """Summary.

        Args:
            x: first.
            y (int): second,
                continued: with a colon.
            *rest: more.

        Returns:
            something.
        """
    )
    assert documented_args(doc) == {"x", "y", "rest"}
    assert has_returns(doc)
    assert not has_returns("Summary.\n\nArgs:\n    x: first.")


# Modules still to be documented; their findings do not fail the main test
# (issue 20). applications, dynamics and training are being restructured by
# another change; the xfail test below lists what they still lack.


def test_every_public_parameter_is_documented():
    problems = findings()
    assert not problems, f"{len(problems)} undocumented:\n" + "\n".join(problems)


if __name__ == "__main__":  # list every finding
    print("\n".join(findings()))
