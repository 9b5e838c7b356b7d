"""Rendering shared by all commands: data on stdout, messages on stderr."""

from __future__ import annotations

import sys
from typing import Annotated, Any, Iterable, Sequence

import typer

from netvault.text import csv_row, json_text, printable

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON (stable keys) instead of a table, for scripts.")
]


def _lines(message: str) -> str:
    """A message for the terminal: its own line breaks kept, every other control escaped."""
    return "\n".join(printable(line) for line in str(message).split("\n"))


def info(message: str) -> None:
    sys.stderr.write(_lines(message) + "\n")


def warn(message: str) -> None:
    sys.stderr.write(f"warning: {_lines(message)}\n")


def emit_json(obj: Any) -> None:
    sys.stdout.write(json_text(obj, sort_keys=True, default=str) + "\n")


def write_csv(rows: Iterable[dict], fieldnames: Sequence[str], out=None) -> None:
    """CSV with a header row; every cell neutralised (text.csv_cell: no formulas, no controls)."""
    import csv

    writer = csv.DictWriter(out or sys.stdout, fieldnames=list(fieldnames), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(csv_row(row))


def _cell(value: Any) -> str:
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


def table(rows: Iterable[dict], columns: Sequence[tuple[str, str]], *, empty: str = "(none)") -> None:
    rows = list(rows)
    if not rows:
        info(empty)
        return
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(header), *(len(r[i]) for r in cells)) for i, (_, header) in enumerate(columns)]
    out = sys.stdout
    out.write("  ".join(h.upper().ljust(w) for (_, h), w in zip(columns, widths)).rstrip() + "\n")
    for r in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """A key: value listing for one object."""
    width = max(len(k) for k, _ in pairs) if pairs else 0
    for key, value in pairs:
        sys.stdout.write(f"{key.ljust(width)}  {_cell(value)}\n")


def progress_bar(label: str):
    """progress(done, total) drawing ``label  42%`` on stderr when it is a
    terminal (nothing when piped), and a ``finish()`` that clears the line."""
    if not sys.stderr.isatty():
        return None, lambda: None
    shown = {"pct": -1}

    def progress(done: int, total: int) -> None:
        pct = min(100, done * 100 // max(total, 1))
        if pct != shown["pct"]:
            shown["pct"] = pct
            sys.stderr.write(f"\r{label} {pct:3d}%")
            sys.stderr.flush()

    def finish() -> None:
        if shown["pct"] >= 0:
            sys.stderr.write("\r" + " " * (len(label) + 6) + "\r")
            sys.stderr.flush()

    return progress, finish
