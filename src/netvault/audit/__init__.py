"""The auditor's view of Vault's own audit device.

- ``reader``: streaming, merged, de-duplicated, paired audit entries
- ``events``: access events (reveal, read, list, write, delete, grant, revoke, login, setup) and filters
- ``exposure``: what a user revealed and whether it was rotated since (offboarding)
- ``report``: one self-contained HTML page
- ``seal``: signed, chained digests and their offline verification
- ``rotate``: close the live file (rename, SIGHUP), seal and compress it

Domain code only: nothing here prints or imports typer; time is passed in.
"""

from __future__ import annotations


def exposure(user, *, paths, vault=None, mounts=None, since=None, progress=None):
    """See ``netvault.audit.exposure.exposure`` (lazy import keeps this package light)."""
    from netvault.audit.exposure import exposure as _exposure

    return _exposure(user, paths=paths, vault=vault, mounts=mounts, since=since, progress=progress)


def default_audit_file(settings=None):
    """The embedded server's audit file (``data_dir/audit.log``)."""
    from pathlib import Path

    from netvault import config

    settings = settings or config.load()
    data_dir = Path(settings.data_dir) if settings.data_dir else config.default_data_dir()
    return data_dir / "audit.log"


def default_audit_files(settings=None) -> list:
    """The embedded server's trail: every rotated file (``audit.log.*``, gzip'd
    or not, oldest first) and the live ``audit.log``. The reader merges them by
    time, so rotation never hides an entry from a command without --file."""
    live = default_audit_file(settings)
    rotated = sorted(p for p in live.parent.glob(live.name + ".*")
                     if p.is_file() and not p.name.endswith((".tmp", ".partial")))
    return rotated + [live]
