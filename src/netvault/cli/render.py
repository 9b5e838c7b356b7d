"""Rendering without typer (the lean paths in ``cli/fast.py`` use it too):
data on stdout, messages on stderr. ``cli/output.py`` re-exports these."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence  # not typing: it costs the lean path ~3 ms

from netvault.values.text import json_text, printable


def _lines(message: str) -> str:
    """A message for the terminal: its own line breaks kept, every other control escaped."""
    return "\n".join(printable(line) for line in str(message).split("\n"))


def info(message: str) -> None:
    sys.stderr.write(_lines(message) + "\n")


def warn(message: str) -> None:
    sys.stderr.write(f"warning: {_lines(message)}\n")


def emit_json(obj: object) -> None:
    """Print a ``--json`` result: a ``@json_result`` dataclass (or a list of
    them; see ``values/results.py``) as one JSON value on one line, keys
    sorted alphabetically at every level."""
    from netvault.values.results import to_json

    sys.stdout.write(json_text(to_json(obj), sort_keys=True, default=str) + "\n")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{_cell(k)}={_cell(v)}" for k, v in value.items()) or "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    # Never let stored data move the cursor, ring the bell or reorder text on a terminal.
    return printable(value)


def table(rows: Iterable[object], columns: Sequence[tuple[str, str]], *, empty: str = "(none)") -> None:
    """Rows are dicts or ``@json_result`` dataclasses (their JSON keys)."""
    from netvault.values.results import to_json

    plain: list[dict] = [to_json(r) for r in rows]
    if not plain:
        info(empty)
        return
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in plain]
    widths = [max(len(header), *(len(r[i]) for r in cells)) for i, (_, header) in enumerate(columns)]
    out = sys.stdout
    out.write("  ".join(h.upper().ljust(w) for (_, h), w in zip(columns, widths)).rstrip() + "\n")
    for r in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")


def fields(pairs: Sequence[tuple[str, object]]) -> None:
    """A key: value listing for one object."""
    width = max(len(k) for k, _ in pairs) if pairs else 0
    for key, value in pairs:
        sys.stdout.write(f"{key.ljust(width)}  {_cell(value)}\n")


