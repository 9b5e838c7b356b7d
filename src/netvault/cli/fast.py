"""The process entry point: a lean path for ``reveal``, ``find`` and the everyday reads.

Engineers run ``reveal`` and ``find`` mid-outage, and each must beat ``bao kv
get`` as a whole process; importing typer (~60-80 ms) alone would eat most of
that. So a command line of one of the commands in ``argspec.TARGETS`` is
parsed here with the standard library, by the grammar ``argspec.SPEC``
derived from the typer command itself, and run by the same body the typer
command calls (``cli/lean.py``), under the same error handler
(``cli/guard.run_guarded``). The parser follows click's rules (``-iVALUE`` and
``-i=VALUE`` give the short option ``VALUE`` / ``=VALUE``, ``--opt=VALUE``,
``--``, options anywhere, the last of a repeated option wins); whatever it
does not accept exactly as click would (``--help``, an unknown option, a
missing value, a value click converts, a wrong number of arguments) goes to
the full typer CLI, which answers as usual. ``NETVAULT_NO_FAST=1`` forces
the typer path. ``tests/test_lean_parity.py`` runs both paths side by side.
"""

from __future__ import annotations

import os
import sys


def parse(argv: list[str]) -> tuple[str, dict] | None:
    """(command words, keyword arguments of its body) for a line the lean path
    runs exactly as typer would; None for anything else (the full CLI)."""
    from netvault.cli.argspec import SPEC

    for words in (" ".join(argv[:2]), argv[0] if argv else ""):
        if words in SPEC and argv[:len(words.split())] == words.split():
            break
    else:
        return None
    spec = SPEC[words]
    kinds = spec["params"]
    rest = argv[len(words.split()):]
    values: dict = {name: (False if kind[0] == "flag" else None) for name, kind in kinds.items()}
    positional: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if arg == "--":
            positional.extend(rest[i:])
            break
        if not (arg.startswith("-") and len(arg) > 1):
            positional.append(arg)
            continue
        if arg.startswith("--"):
            name, eq, attached = arg.partition("=")
            value = attached if eq else None
        elif len(arg) > 2 or "=" in arg:
            name, value = arg[:2], arg[2:]  # click: "-iINC-1" and "-i=INC-1" attach "INC-1" / "=INC-1"
        else:
            name, value = arg, None
        param = spec["opts"].get(name)
        if param is None:
            return None  # --help, --traceback, unknown: typer answers
        kind, multiple, minimum = kinds[param]
        if kind == "flag":
            if value is not None:
                return None  # "--json=x": click's own usage error
            values[param] = True
            continue
        if value is None:
            if i >= len(rest):
                return None  # "requires an argument"
            value = rest[i]
            i += 1
        converted: str | int = value
        if kind == "int":
            if not (value.isascii() and value.isdigit()) or (minimum is not None and int(value) < minimum):
                return None  # typer converts or refuses it
            converted = int(value)
        elif kind != "str":
            return None
        values[param] = (values[param] or []) + [converted] if multiple else converted
    if len(positional) != len(spec["args"]):
        return None
    for name, value in zip(spec["args"], positional):
        if kinds[name][0] != "str":
            return None
        values[name] = value
    return words, values


def run(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parsed = parse(argv) if argv and os.environ.get("NETVAULT_NO_FAST", "") in ("", "0") else None
    if parsed is None:
        from netvault.cli.main import run as full_run

        full_run(argv)
        return
    from netvault.cli import lean
    from netvault.cli.argspec import TARGETS
    from netvault.cli.guard import debug_wanted, run_guarded

    words, kwargs = parsed
    body = getattr(lean, TARGETS[words])
    sys.exit(int(run_guarded(lambda: body(**kwargs), debug=debug_wanted())))


if __name__ == "__main__":
    run()
