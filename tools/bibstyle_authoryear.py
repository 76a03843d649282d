"""Author-year citations in round brackets, and a bibliography listed under the same labels.

The text cites with ``bibtex_reference_style: author_year_round``, defined here:
sphinxcontrib-bibtex's author-year style with round brackets, so that
``{cite:t}`muller2019does``` reads "Müller et al. (2019)" and
``{cite:p}`muller2019does``` (or plain ``{cite}``) reads "(Müller et al., 2019)".
The pybtex formatting style ``authoryear`` lists each entry under the same
author-year label ("Müller et al., 2019") instead of pybtex's alphabetic
"[MKH19]"; entries are sorted by author, year, title, and print their DOI or
URL (unsrt's fields). Loaded as a Sphinx local extension (``_config.yml``:
``sphinx.local_extensions``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sphinxcontrib.bibtex.plugin
from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import (
    AuthorYearReferenceStyle,
)


def _surname(person) -> str:
    return " ".join(person.last_names) or " ".join(person.first_names) or "Anon."


def _strip_braces(text: str) -> str:
    return text.replace("{", "").replace("}", "")


def author_year(entry) -> str:
    """``"Szegedy et al., 2016"``, ``"Guo and Pleiss, 2017"``, or the title when no author."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    if len(people) == 1:
        who = _surname(people[0])
    elif len(people) == 2:
        who = f"{_surname(people[0])} and {_surname(people[1])}"
    elif people:
        who = f"{_surname(people[0])} et al."
    else:
        who = entry.fields.get("title", "Anon.")
    year = entry.fields.get("year", "n.d.")
    return _strip_braces(f"{who}, {year}")


class AuthorYearLabelStyle(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [author_year(e) for e in entries]
        counts, seen = Counter(labels), Counter()
        for label in labels:
            if counts[label] > 1:  # "Zhang et al., 2021a", "... 2021b"
                seen[label] += 1
                yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            else:
                yield label


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabelStyle
    default_sorting_style = "author_year_title"


register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)


def _round() -> BracketStyle:
    return BracketStyle(left="(", right=")")


@dataclass
class RoundAuthorYearReferenceStyle(AuthorYearReferenceStyle):
    """``(Müller et al., 2019)`` and ``Müller et al. (2019)``."""

    bracket_parenthetical: BracketStyle = field(default_factory=_round)
    bracket_textual: BracketStyle = field(default_factory=_round)
    bracket_author: BracketStyle = field(default_factory=_round)
    bracket_label: BracketStyle = field(default_factory=_round)
    bracket_year: BracketStyle = field(default_factory=_round)


sphinxcontrib.bibtex.plugin.register_plugin(
    "sphinxcontrib.bibtex.style.referencing",
    "author_year_round",
    RoundAuthorYearReferenceStyle,
)


def setup(app):
    return {"parallel_read_safe": True, "parallel_write_safe": True}
