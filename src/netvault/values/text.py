"""Rendering values from Vault, the audit trail or storage: the one escaping helper.

Any of those values may be chosen by an attacker (a record name planted by a
team lead, an incident reference sent with curl, an error text). Before one
reaches a terminal, a CSV file, JSON or HTML:

- ``printable``: every character that is not printable (C0/C1 controls such
  as ESC, BEL, CR, LF, DEL; bidi overrides and isolates such as U+202E,
  U+2066-2069; invisible ones such as U+200B, U+FEFF; line separators;
  non-ASCII spaces, surrogates, private-use and unassigned code points) becomes a visible
  escape (``\\x1b``, ``\\u202e``, ``\\U000e0041``). Text stays on one line.
- ``csv_cell``: ``printable`` plus formula neutralising (OWASP "CSV
  injection"): a cell that begins with ``=``, ``+``, ``-``, ``@``, tab or CR
  (or their full-width forms) gets a leading ``'``.
- ``json_text``: JSON in which such characters appear only as ``\\uXXXX``.
- ``html_text``: ``printable`` then HTML-escaped (a numeric character
  reference would still be rendered, so escapes are made visible first).

Standard library only, and cheap when nothing needs escaping (``reveal`` and
``find`` use it on the hot path).
"""

from __future__ import annotations

import re
from typing import Any

#: Start of a CSV cell that a spreadsheet may run as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")

#: Incident references longer than this are flagged ``ref-long`` and cut in tables.
REFERENCE_MAX = 64
#: Width an incident reference gets in a table.
REFERENCE_SHOWN = 40


def _escape_char(ch: str) -> str:
    cp = ord(ch)
    if cp < 0x100:
        return f"\\x{cp:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def printable(value: Any) -> str:
    """``str(value)`` with every non-printable character as a visible escape."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape_char(ch) for ch in text)


def cut(text: str, limit: int) -> str:
    """At most ``limit`` characters; a cut is marked with an ellipsis."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def csv_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula and that holds no control characters."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_START):
        text = "'" + text
    return printable(text)


def csv_row(row: dict) -> dict:
    return {k: csv_cell(v) for k, v in row.items()}


def _json_escape(ch: str) -> str:
    cp = ord(ch)
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    cp -= 0x10000
    return f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}"


def json_text(obj: Any, **kwargs) -> str:
    """``json.dumps(obj, ensure_ascii=False, **kwargs)``, but no non-printable
    character appears raw: inside strings they become ``\\uXXXX`` (outside
    strings JSON has only ASCII, and ``indent``'s line breaks stay)."""
    import json

    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in "\n " else _json_escape(ch) for ch in text)


def html_text(value: Any) -> str:
    import html

    return html.escape(printable(value), quote=True)


# -- incident references -----------------------------------------------------

_LETTERS = re.compile(r"[A-Za-z]*")


def reference_flags(reference: str | None) -> list[str]:
    """Why an incident reference Vault accepted is useless, as ``ref-*`` flags.

    - ``ref-empty``: nothing after the prefix (``INC-``, ``INC-  ``, ``INC--``) or no letter/digit at all;
    - ``ref-glob``: holds ``*`` (``INC-*``): a pattern, not an incident;
    - ``ref-long``: longer than ``REFERENCE_MAX`` characters;
    - ``ref-control``: holds a control, bidi or invisible character.
    """
    if reference is None:
        return []
    flags = []
    letters = _LETTERS.match(reference)
    rest = reference[letters.end() if letters else 0:]
    if not any(ch.isalnum() for ch in reference) or (rest and not any(ch.isalnum() for ch in rest)):
        flags.append("ref-empty")
    if "*" in reference:
        flags.append("ref-glob")
    if len(reference) > REFERENCE_MAX:
        flags.append("ref-long")
    if not reference.isprintable():
        flags.append("ref-control")
    return flags


def shown_reference(reference: str | None) -> str | None:
    """An incident reference for a table cell: escaped and cut short."""
    if reference is None:
        return None
    return cut(printable(reference), REFERENCE_SHOWN)


#: Characters a customer policy refuses inside an incident reference
#: (``denied_parameters``): C0 controls, DEL, C1 controls, and the invisible
#: and bidi formatting characters. A fixed list, so the rendered policy is
#: the same text on every machine (``setup --check`` compares it).
def policy_denied_chars() -> list[str]:
    ranges = [
        (0x00, 0x1F), (0x7F, 0x9F), (0xAD, 0xAD), (0x061C, 0x061C), (0x180E, 0x180E),
        (0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
    ]
    return [chr(c) for a, b in ranges for c in range(a, b + 1)]
