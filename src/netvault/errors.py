"""Exit codes and the error types that carry them.

Every failure a user can meet is one of these; the top-level handler in
``netvault.cli.main`` prints ``error: <message>`` on one line and exits with
the code. Messages never contain secrets: callers build them from names,
paths and Vault's own error text only.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Documented process exit codes (README, "Exit codes")."""

    OK = 0
    ERROR = 1  # anything not listed below
    USAGE = 2  # bad arguments or invalid input; nothing was written
    NOT_FOUND = 3
    PERMISSION_DENIED = 4  # Vault refused (policy), incl. missing incident reference
    UNREACHABLE = 5  # no server at the address, or it does not answer
    SEALED = 6  # server sealed or not initialised
    CONFLICT = 7  # check-and-set mismatch, already exists, concurrent edit
    NOT_LOGGED_IN = 8  # no token, or token expired / revoked
    TAMPERED = 9  # audit verify found edits, gaps or broken signatures
    INTERRUPTED = 130


class NetvaultError(Exception):
    """Base class: a one-line, secret-free message and an exit code."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(NetvaultError):
    exit_code = ExitCode.USAGE


class NotFound(NetvaultError):
    exit_code = ExitCode.NOT_FOUND


class PermissionDenied(NetvaultError):
    exit_code = ExitCode.PERMISSION_DENIED


class Unreachable(NetvaultError):
    exit_code = ExitCode.UNREACHABLE


class Sealed(NetvaultError):
    exit_code = ExitCode.SEALED


class Conflict(NetvaultError):
    exit_code = ExitCode.CONFLICT


class NotLoggedIn(NetvaultError):
    exit_code = ExitCode.NOT_LOGGED_IN


class Tampered(NetvaultError):
    exit_code = ExitCode.TAMPERED
