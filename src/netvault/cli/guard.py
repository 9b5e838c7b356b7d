"""The one top-level error handler of both entry points (lean and typer).

``run_guarded(fn)`` runs a command and turns every failure into the
documented exit code: ``error: <one line>`` (and ``hint: ...``) on stderr for
a ``NetvaultError``, ``interrupted`` and 130 for Ctrl-C, and for a bug a line
that names its type but never its message (it may hold data). With
``--traceback`` or ``NETVAULT_DEBUG=1`` a failure is raised instead. Typer-free:
the lean entry point imports it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from netvault.errors import ExitCode, NetvaultError


def debug_wanted(argv: list[str] | None = None) -> bool:
    return os.environ.get("NETVAULT_DEBUG", "") not in ("", "0") or "--traceback" in (argv or [])


def run_guarded(fn: Callable[[], int | None], *, debug: bool | Callable[[], bool] = False) -> ExitCode | int:
    """``fn()``'s exit code (None counts as 0), or the exit code of its failure.
    ``debug`` (or a callable asked after the failure, for a ``--traceback`` the
    command line sets while it is parsed): re-raise instead."""
    def debugging() -> bool:
        return debug() if callable(debug) else bool(debug)

    try:
        result = fn()
        return ExitCode.OK if result is None else result
    except NetvaultError as exc:
        if debugging():
            raise
        from netvault.values.text import printable

        sys.stderr.write(f"error: {printable(exc.message)}\n")
        if exc.hint:
            sys.stderr.write(f"hint: {printable(exc.hint)}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.ERROR
    except SystemExit:
        raise
    except BaseException as exc:  # a bug: say so without leaking its message (it may hold data)
        if debugging():
            raise
        sys.stderr.write(f"error: internal error ({type(exc).__name__}); rerun with --traceback and report it\n")
        return ExitCode.ERROR
