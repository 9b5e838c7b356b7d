"""Validation of names that become Vault paths. Bad names are refused, never rewritten."""

from __future__ import annotations

import re

from netvault.errors import UsageError

_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]*")
_USER = re.compile(r"[a-z0-9][a-z0-9._-]*")
MAX_SLUG = 64
MAX_USER = 64


def shown(value: str) -> str:
    """A name as it may appear in a one-line message: escaped, bounded."""
    return ascii(value[:80] + ("…" if len(value) > 80 else ""))


def slug(value: str, what: str = "name") -> str:
    if not isinstance(value, str) or not value:
        raise UsageError(f"{what} must not be empty")
    if len(value) > MAX_SLUG:
        raise UsageError(f"{what} {shown(value)} is longer than {MAX_SLUG} characters")
    if ".." in value:
        raise UsageError(f"{what} {shown(value)} must not contain '..'")
    if "/" in value:
        raise UsageError(f"{what} {shown(value)} must not contain '/'")
    if not _SLUG.fullmatch(value):
        raise UsageError(
            f"{what} {shown(value)} may only hold lower-case letters, digits, '-', '_' and '.', "
            "starting with a letter or digit"
        )
    return value


def username(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise UsageError("user name must not be empty")
    if len(value) > MAX_USER or ".." in value or not _USER.fullmatch(value):
        raise UsageError(
            f"user name {shown(value)} may only hold lower-case letters, digits, '-', '_' and '.' "
            f"(at most {MAX_USER})"
        )
    return value


_MOUNT = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?")
#: paths Vault keeps for itself (or that would shadow netvault's own use)
RESERVED_MOUNTS = frozenset({"sys", "auth", "identity", "cubbyhole", "token"})


def mount(value: str, what: str = "mount") -> str:
    """A ``[mounts]`` name (KV, transit, userpass). It is pasted into policy
    paths and request URLs, so it is held to a strict shape: lower-case
    letters, digits, '-' and '_', no '/', no glob character, at most 64."""
    if not isinstance(value, str) or not _MOUNT.fullmatch(value):
        raise UsageError(
            f"{what} {shown(str(value))} may only hold lower-case letters, digits, '-' and '_' "
            "(starting and ending with a letter or digit, at most 64)"
        )
    if value in RESERVED_MOUNTS:
        raise UsageError(f"{what} {shown(value)} is a path Vault keeps for itself")
    return value


def record_ref(value: str) -> tuple[str, str]:
    """Split CUSTOMER/NAME, validating both parts."""
    if not isinstance(value, str) or value.count("/") != 1:
        raise UsageError(f"expected CUSTOMER/NAME, got {shown(str(value))}")
    customer, name = value.split("/")
    return slug(customer, "customer"), slug(name, "record name")


# Latin letters NFKD does not decompose.
_LATIN_EXTRA = str.maketrans({"æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o", "ß": "ss", "đ": "d", "Đ": "d", "ł": "l",
                              "Ł": "l", "þ": "th", "Þ": "th", "œ": "oe", "Œ": "oe", "ð": "d", "Ð": "d", "ı": "i"})


def slugify(text: str, limit: int = MAX_SLUG) -> tuple[str, bool]:
    """A slug derived from free text (import titles): NFKD-transliterated to
    ASCII, lower case, other characters become '-'. Returns (slug, lossless):
    ``lossless`` is False when a letter or digit had no ASCII form (non-Latin
    text) -- the caller then adds something unique. The slug may be empty."""
    import unicodedata

    out: list[str] = []
    lossless = True
    text = (text or "").translate(_LATIN_EXTRA)
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch):
            continue
        if ch.isascii():
            out.append(ch.lower() if ch.isalnum() or ch in "._" else "-")
        else:
            if ch.isalnum():
                lossless = False
            out.append("-")
    value = re.sub(r"-{2,}", "-", "".join(out))
    value = re.sub(r"\.{2,}", ".", value)
    value = value.strip("-._")[:limit].rstrip("-._")
    return value, lossless
