"""The auditor's view of Vault's own audit device.

- ``reader``: streaming, merged, de-duplicated, paired audit entries
- ``events``: access events (reveal, read, list, write, delete, grant, revoke, login, setup) and filters
- ``exposure``: what a user revealed and whether it was rotated since (offboarding)
- ``report``: one self-contained HTML page
- ``seal``: signed, chained digests written to Vault
- ``verify``: offline check of files against those digests (no Vault)
- ``rotate``: close the live file (rename, SIGHUP), seal and compress it

Domain code only: nothing here prints or imports typer; time is passed in.
"""

from __future__ import annotations


def default_audit_file(settings=None):
    """The embedded server's audit file (``data_dir/audit.log``)."""
    from pathlib import Path

    from netvault.local import config

    settings = settings or config.load()
    data_dir = Path(settings.data_dir) if settings.data_dir else config.default_data_dir()
    return data_dir / "audit.log"


def default_audit_files(settings=None) -> list:
    """The embedded server's trail: every rotated file (``audit.log.*``, gzip'd
    or not, oldest first) and the live ``audit.log``. The reader merges them by
    time, so rotation never hides an entry from a command without --file."""
    return with_rotated(default_audit_file(settings))


def with_rotated(live) -> list:
    """The rotated files of a live audit file (``<name>.*``, oldest first), then the live file."""
    rotated = sorted(p for p in live.parent.glob(live.name + ".*")
                     if p.is_file() and not p.name.endswith((".tmp", ".partial")))
    return rotated + [live]


def how_to_give(file_option: str = "--file") -> str:
    return (f"give {file_option} FILE (repeatable) or --audit-dir DIR (remembered for this profile) with the "
            "server's audit files (live and rotated, e.g. copied from /var/log/openbao/)")


def dir_files(directory) -> list:
    """The audit files in a directory: every ``*.log`` with its rotated files; a rotated
    file whose live file is gone is kept too. Oldest first per file; the reader merges by time."""
    from pathlib import Path

    d = Path(directory)
    out: list = []
    names = sorted(p.name for p in d.iterdir() if p.is_file()) if d.is_dir() else []
    lives = [n for n in names if n.endswith(".log")]
    for live in lives:
        out += [p for p in with_rotated(d / live)]
    seen = {p.name for p in out}
    out += [d / n for n in names if n not in seen and ".log." in n and not n.endswith((".tmp", ".partial"))]
    return out


def locate_trail(settings=None, *, files=None, audit_dir=None, file_option: str = "--file") -> tuple[list, str]:
    """(audit files, where they were found) for a command, in this order:
    the files given; ``audit_dir`` (``--audit-dir``); the profile's ``audit_dir``
    setting; the embedded server's ``audit.log`` with its rotated files.
    Raises NotFound (exit 3) saying how to point netvault at the files; a
    given directory that is missing or empty is a UsageError (exit 2)."""
    from pathlib import Path

    from netvault.local import config
    from netvault.errors import UsageError

    if files:
        return [Path(f) for f in files], "given: " + ", ".join(str(f) for f in files)
    settings = settings or config.load()
    for where, directory in (("--audit-dir", audit_dir), ("audit_dir setting", settings.audit_dir)):
        if not directory:
            continue
        if not Path(directory).is_dir():
            raise UsageError(f"audit directory {directory} ({where}) is not a directory; {how_to_give(file_option)}")
        found = dir_files(directory)
        if not found:
            raise UsageError(f"no audit files (*.log, *.log.*) in {directory} ({where}); {how_to_give(file_option)}")
        return found, f"{where} {directory}"
    embedded = [p for p in default_audit_files(settings) if p.exists()]
    if embedded:
        return embedded, "the embedded server's audit.log"
    from netvault.errors import NotFound

    raise NotFound(f"no audit trail on this machine (no {default_audit_file(settings)}); {how_to_give(file_option)}")
