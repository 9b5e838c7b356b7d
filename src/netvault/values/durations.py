"""Durations like ``90s``, ``15m``, ``4h``, ``7d``, ``2w``, ``1h30m``. Pure and strict."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from netvault.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d{1,7})([smhdw])")
_WHOLE = re.compile(r"(?:\d{1,7}[smhdw])+")


def parse_seconds(text: str) -> int:
    """Seconds in a duration; a bare integer counts as seconds (Vault's own form)."""
    if isinstance(text, int):
        return text
    text = str(text).strip()
    if text.isdigit():
        return int(text)
    if not _WHOLE.fullmatch(text):
        raise UsageError(f"invalid duration {text[:40]!r}; use e.g. 30m, 4h, 7d or 1h30m")
    return sum(int(n) * _UNITS[u] for n, u in _PART.findall(text))


def parse(text: str, *, minimum: int = 1, maximum: int | None = None, what: str = "duration") -> timedelta:
    seconds = parse_seconds(text)
    if seconds < minimum:
        raise UsageError(f"{what} {text!r} is too short (at least {format_seconds(minimum)})")
    if maximum is not None and seconds > maximum:
        raise UsageError(f"{what} {text!r} is too long (at most {format_seconds(maximum)})")
    return timedelta(seconds=seconds)


def format_seconds(seconds: int) -> str:
    seconds = int(seconds)
    if seconds <= 0:
        return "0s"
    out = []
    for unit in ("d", "h", "m", "s"):
        n, seconds = divmod(seconds, _UNITS[unit])
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)


def parse_since(text: str, now: datetime) -> datetime:
    """A point in time: ISO date/datetime, or a duration back from ``now`` (``7d``)."""
    text = text.strip()
    try:
        return now - timedelta(seconds=parse_seconds(text))
    except UsageError:
        pass
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"invalid date {text[:40]!r}; use 2026-11-01, 2026-11-01T08:00 or 7d") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def iso_utc(when: datetime) -> str:
    """``2026-11-28T12:00:00Z``: a point in time as netvault stores it (UTC, whole seconds)."""
    return when.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_iso(text: str | None) -> datetime | None:
    """The reverse of ``iso_utc`` (any ISO form); None for none. ValueError when malformed."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
