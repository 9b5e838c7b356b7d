"""Validation of record fields. Bad values are refused (UsageError, exit 2) with a
one-line message, never rewritten silently and never written."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from netvault.errors import UsageError
from netvault.values.names import shown

MAX_TEXT = 200
MAX_NOTES = 4000
MAX_SECRET = 4096
MAX_TAGS = 20
MAX_LIST = 16
MAX_SEATS = 1_000_000

_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+")
_PHONE = re.compile(r"\+?[0-9][0-9 ()./-]{2,30}")
_KVK = re.compile(r"[0-9]{8}")
_HOST = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,15}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TAG = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")


def text(value: str | None, what: str, *, limit: int = MAX_TEXT, multiline: bool = False) -> str | None:
    """Free text: bounded, no control or invisible formatting characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise UsageError(f"{what} must be text")
    if len(value) > limit:
        raise UsageError(f"{what} is longer than {limit} characters")
    for ch in value:
        if multiline and ch in "\n\t":
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            raise UsageError(f"{what} holds a control or invisible character (U+{ord(ch):04X}); not stored")
    return value


def notes(value: str | None) -> str | None:
    return text(value, "notes", limit=MAX_NOTES, multiline=True)


def email(value: str | None) -> str | None:
    if value in (None, ""):
        return value
    text(value, "e-mail")
    if not _EMAIL.fullmatch(value):
        raise UsageError(f"invalid e-mail address {shown(value)}")
    return value


def phone(value: str | None) -> str | None:
    if value in (None, ""):
        return value
    if not _PHONE.fullmatch(value):
        raise UsageError(f"invalid phone number {shown(value)}; digits, spaces, + ( ) . / - only")
    return value


def kvk(value: str | None) -> str | None:
    if value in (None, ""):
        return value
    if not _KVK.fullmatch(value):
        raise UsageError(f"invalid KvK number {shown(value)}; 8 digits")
    return value


def vat(value: str | None) -> str | None:
    """EU VAT number, checked with each country's own rule (python-stdnum)."""
    if value in (None, ""):
        return value
    from stdnum import exceptions
    from stdnum.eu import vat as eu_vat

    try:
        return eu_vat.validate(value)
    except exceptions.ValidationError:
        raise UsageError(f"invalid VAT number {shown(value)}; e.g. NL004495445B01 (country code, then the number)") from None


def iban(value: str | None) -> str | None:
    """Bank account as IBAN: the country's length and format and the mod-97
    check digits (python-stdnum)."""
    if value in (None, ""):
        return value
    from stdnum import exceptions
    from stdnum import iban as std_iban

    try:
        return std_iban.validate(value)
    except exceptions.ValidationError as exc:
        why = "check digits do not match" if isinstance(exc, exceptions.InvalidChecksum) else (
            "wrong length for its country" if isinstance(exc, exceptions.InvalidLength) else "not an IBAN")
        raise UsageError(f"invalid bank account {shown(value)}: {why}; give an IBAN like NL91ABNA0417164300") from None


def url_or_host(value: str | None) -> str | None:
    """``https://host/path``, ``ssh://host:22`` or a bare ``host[:port]`` / IP."""
    if value in (None, ""):
        return value
    text(value, "URL")
    if any(ch.isspace() for ch in value):
        raise UsageError(f"invalid URL or host {shown(value)}: contains whitespace")
    from urllib.parse import urlsplit

    if "://" in value:
        parts = urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            port = -1
        host = parts.hostname or ""
        if not _SCHEME.fullmatch(parts.scheme or "") or not host or port == -1 or not (_HOST.fullmatch(host) or _is_ip(host)):
            raise UsageError(f"invalid URL {shown(value)}; e.g. https://192.0.2.1:8443/ or ssh://fw.example.net")
        return value
    host, _, port_text = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    if port_text and (not port_text.isdigit() or not 0 < int(port_text) < 65536):
        raise UsageError(f"invalid port in {shown(value)}")
    if not (_HOST.fullmatch(host) or _is_ip(host) or _is_ip(value.strip("[]"))):
        raise UsageError(f"invalid URL or host {shown(value)}; e.g. https://fw.example.net or 192.0.2.1")
    return value


def _is_ip(value: str) -> bool:
    from netvault.values.macs import parse_ip

    return parse_ip(value) is not None


def iso_date(value: str | None, what: str = "date") -> str | None:
    if value in (None, ""):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise UsageError(f"invalid {what} {shown(str(value))}; use YYYY-MM-DD")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"invalid {what} {shown(value)}: no such day") from None
    return value


def seats(value) -> int | None:
    if value is None or value == "":
        return None
    try:
        n = int(str(value), 10)
    except ValueError:
        raise UsageError(f"invalid seats {shown(str(value))}; a whole number") from None
    if not 0 <= n <= MAX_SEATS:
        raise UsageError(f"seats must be between 0 and {MAX_SEATS}")
    return n


def tags(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    out: list[str] = []
    for value in values:
        for tag in value.split(","):
            tag = tag.strip()
            if not tag:
                continue
            if not _TAG.fullmatch(tag) or ".." in tag:
                raise UsageError(f"invalid tag {shown(tag)}; lower-case letters, digits, . _ - (at most 32)")
            if tag not in out:
                out.append(tag)
    if len(out) > MAX_TAGS:
        raise UsageError(f"at most {MAX_TAGS} tags")
    return out


def bounded_list(values: list[str], what: str, limit: int = MAX_LIST) -> list[str]:
    if len(values) > limit:
        raise UsageError(f"at most {limit} {what}")
    return values


def secret_value(value: str, what: str = "secret") -> str:
    """A secret's shape only: the message never contains the value."""
    if not value:
        raise UsageError(f"{what} must not be empty")
    if len(value) > MAX_SECRET:
        raise UsageError(f"{what} is longer than {MAX_SECRET} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise UsageError(f"{what} holds a control character; not stored")
    return value


def totp_seed(value: str) -> str:
    """A base32 TOTP seed (spaces and case ignored)."""
    import base64
    import binascii

    compact = value.replace(" ", "").replace("-", "").upper().rstrip("=")
    if not compact or not re.fullmatch(r"[A-Z2-7]+", compact) or len(compact) > 256:
        raise UsageError("TOTP seed must be base32 (letters A-Z and digits 2-7)")
    if len(compact) < 16:
        raise UsageError("TOTP seed is too short (at least 16 base32 characters, 80 bits)")
    try:
        base64.b32decode(compact + "=" * (-len(compact) % 8))
    except (binascii.Error, ValueError):
        raise UsageError("TOTP seed is not valid base32") from None
    return compact
