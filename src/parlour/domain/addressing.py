"""Who a reader's comment is for: does it wait for the writer's answer?

The rule (docs/desk.md, "What waits for you"): a reader's comment waits for the writer
when it starts a conversation, answers her, or, answering another reader, addresses her:
it names her (her name as the site shows it, as whole words, with or without "@"), or it
asks a question (a sentence ends with "?"). A reader answering a reader otherwise talks
to that reader, and nothing waits for her.

A pure function of the text, so the migration that marks the comments stored before the
rule (0020) uses the same one as every write.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# A sentence ending with "?": followed by the end, white space, or closing punctuation.
# "?" inside a word or an address ("page?id=3") asks nothing.
_QUESTION = re.compile(r"\?+(?=$|[\s\"'”’»)\]*_~.!,:;])")


def _normal(text: str) -> str:
    """Compatibility-normalised and case-folded, runs of white space as one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def names(body: str, name: str) -> bool:
    """Does `body` name `name`: its words, in order, not inside a longer word?"""
    pattern = _name_pattern(name)
    return pattern is not None and pattern.search(unicodedata.normalize("NFKC", body).casefold()) is not None


@lru_cache(maxsize=64)  # a site has one writer's name: made once, not once a comment
def _name_pattern(name: str) -> re.Pattern[str] | None:
    wanted = _normal(name)
    if not wanted:
        return None
    return re.compile(r"(?<!\w)" + r"\s+".join(re.escape(word) for word in wanted.split(" ")) + r"(?!\w)")


def asks_a_question(body: str) -> bool:
    """Does a sentence of `body` end with a question mark?"""
    return _QUESTION.search(body) is not None


def addresses_writer(body: str, writer_name: str) -> bool:
    """Does a reader's reply to another reader address the writer (name her, or ask)?"""
    return asks_a_question(body) or names(body, writer_name)


def for_writer(body: str, writer_name: str, parent_is_writer: bool | None) -> bool:
    """Is this comment for the writer to answer (if a reader wrote it)? `parent_is_writer`
    is None for a comment that starts a conversation."""
    if parent_is_writer is None or parent_is_writer:
        return True
    return addresses_writer(body, writer_name)
