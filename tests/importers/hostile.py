"""Hostile and broken XML files, written per test: what every XML importer must refuse."""

from __future__ import annotations

from pathlib import Path

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ROOT>&lol9;</ROOT>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE ROOT [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
<ROOT>&secret;</ROOT>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE ROOT SYSTEM "http://127.0.0.1:9/evil.dtd">
<ROOT/>
"""


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def hostile_files(
    tmp_path: Path, good: bytes, start: bytes, end: bytes
) -> dict[str, tuple[Path, int | None]]:
    """Each broken variant of the `good` file and the line its message must name (None:
    some line). `start` and `end` are the format's root tags, put in the hostile ones."""
    lines = good.count(b"\n")
    cut = good[: len(good) * 2 // 3]
    files = {
        "billion laughs": (BILLION_LAUGHS.replace(b"<ROOT>", start).replace(b"</ROOT>", end), 2),
        "external entity file": (EXTERNAL_ENTITY.replace(b"<ROOT>", start).replace(b"</ROOT>", end), 2),
        "external DTD": (EXTERNAL_DTD.replace(b"<ROOT/>", start + end), 2),
        "truncated": (cut, None),
        "invalid UTF-8": (good.replace(b"</title>", b"caf\xe9</title>", 1), None),
        "latin-1 with control bytes": (
            good.replace(b'encoding="utf-8"', b'encoding="ISO-8859-1"')
            .replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
            .replace(b"</title>", b"\x01</title>", 1),
            None,
        ),
        "not XML": (b"Name,Comment\nAda,Hello\n", 1),
        "empty": (b"", None),
        "undefined entity": (good.replace(b"</title>", b"&nbsp;</title>", 1), None),
    }
    assert lines > 10
    return {
        name: (write(tmp_path, f"{i}.xml", content), line)
        for i, (name, (content, line)) in enumerate(files.items())
    }
