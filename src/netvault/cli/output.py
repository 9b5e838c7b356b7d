"""Rendering shared by all commands: data on stdout, messages on stderr."""

from __future__ import annotations

import sys
from typing import Annotated, Iterable, Sequence

import typer

from netvault.cli.render import _cell, _lines, emit_json, fields, info, table, warn  # noqa: F401  (re-exported)
from netvault.values.text import csv_row

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON (stable keys) instead of a table, for scripts.")
]


def write_csv(rows: Iterable[dict], fieldnames: Sequence[str], out=None) -> None:
    """CSV with a header row; every cell neutralised (text.csv_cell: no formulas, no controls)."""
    import csv

    writer = csv.DictWriter(out or sys.stdout, fieldnames=list(fieldnames), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(csv_row(row))


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


def confirm_by_typing(expected: str, prompt: str, refused: str, error: type[Exception]) -> None:
    """Ask for ``expected`` to be typed back (read from stdin when it is not a
    terminal, so scripts can pipe it); anything else raises ``error(refused)``
    before anything is changed. Callers skip this for ``--yes``."""
    if sys.stdin.isatty():
        typer.echo(prompt, err=True, nl=False)
    if sys.stdin.readline().strip() != expected:
        raise error(refused)
