"""Text as a reader sees it, folded so that look-alikes compare equal.

Word filters and name checks must see what readers see, not what was typed: `&#99;asino`
renders as "casino", `ＣＡＳＩＮＯ` (full width) and `саsino` (Cyrillic "с" and "а") look
like it, and zero-width or bidi control characters can split a word invisibly. `fold`
undoes all of that: compatibility normalisation (NFKC: width, ligatures), format
characters removed (Unicode category Cf: zero-width, bidi controls), case folded, and
letters that look like Latin letters or digits replaced by them, from Unicode's
confusables list as packaged by confusable-homoglyphs (reduced to the table `fold` uses,
shipped as look_alikes.txt; a test checks it against the package).
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from functools import cache
from importlib import resources

_TAG = re.compile(r"<[^>]*>")


TABLE = "look_alikes.txt"


def look_alikes_from_confusables() -> dict[int, str]:
    """Non-ASCII characters that look like an ASCII letter or digit -> that character,
    from the confusables list confusable-homoglyphs packages (tests and regeneration
    only: parsing its 900 KB of JSON leaves 3.5 MiB in a process, for 1,300 entries)."""
    data = json.loads(
        resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    )
    table: dict[int, str] = {}
    for char, homoglyphs in data.items():
        if len(char) != 1 or char.isascii():
            continue
        for glyph in homoglyphs:
            target = glyph["c"]
            if len(target) == 1 and target.isascii() and target.isalnum():
                table[ord(char)] = target.lower()
                break
    return table


def table_text(table: dict[int, str]) -> str:
    """The table as shipped: a line per character, `HEX TARGET`, in code point order."""
    lines = [f"{code:04X} {target}" for code, target in sorted(table.items())]
    return "# Generated from confusable-homoglyphs' confusables.json by folding.table_text;\n" + (
        "# tests/test_hardening.py checks it, PARLOUR_UPDATE_LOOK_ALIKES=1 rewrites it.\n"
        + "\n".join(lines)
        + "\n"
    )


@cache
def _look_alikes() -> dict[int, str]:
    """The shipped table (look_alikes.txt, beside this module)."""
    table: dict[int, str] = {}
    for line in resources.files(__package__).joinpath(TABLE).read_text("ascii").splitlines():
        if line and not line.startswith("#"):
            code, target = line.split(" ")
            table[int(code, 16)] = target
    return table


def fold(text: str) -> str:
    """`text` normalised, without invisible characters, case-folded, look-alikes folded."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return text.casefold().translate(_look_alikes())


def rendered_text(html_text: str) -> str:
    """What a reader reads of sanitised HTML: the text, with entities decoded."""
    return html.unescape(_TAG.sub(" ", html_text))


def has_invisible(text: str) -> bool:
    """Does `text` carry format characters (zero-width, bidi overrides and isolates)?"""
    return any(unicodedata.category(ch) == "Cf" for ch in text)
