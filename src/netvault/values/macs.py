"""MAC and IP addresses: one canonical stored form, any common notation in.

Stored form of a MAC: 12 lower-case hex digits (``aabbccddeeff``); shown as
``aa:bb:cc:dd:ee:ff`` with the vendor (OUI) where netaddr knows it. IPs are
stored in ``ipaddress``'s compressed form.

``parse_mac`` is lean on purpose (a regex, no netaddr import): ``find`` runs it
on the hot path. ``canonical_mac`` (used when writing) also passes the value
through ``netaddr`` so what is stored is what netaddr agrees a MAC is.
"""

from __future__ import annotations

import re

from netvault.errors import UsageError

# The notations accepted, each a whole-string match.
_NOTATIONS = (
    re.compile(r"([0-9a-f]{2})[:]([0-9a-f]{2})[:]([0-9a-f]{2})[:]([0-9a-f]{2})[:]([0-9a-f]{2})[:]([0-9a-f]{2})"),
    re.compile(r"([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})"),
    re.compile(r"([0-9a-f]{4})\.([0-9a-f]{4})\.([0-9a-f]{4})"),  # Cisco
    re.compile(r"([0-9a-f]{6})[-:]([0-9a-f]{6})"),  # aabbcc-ddeeff
    re.compile(r"([0-9a-f]{12})"),  # bare
)


def parse_mac(text: str) -> str | None:
    """12 lower-hex digits if ``text`` is a MAC in a known notation, else None."""
    if not isinstance(text, str) or len(text) > 17:
        return None
    low = text.strip().lower()
    for pattern in _NOTATIONS:
        m = pattern.fullmatch(low)
        if m:
            return "".join(m.groups())
    return None


def canonical_mac(text: str) -> str:
    """Validate and canonicalise a MAC for storing; UsageError if it is not one."""
    hexed = parse_mac(text)
    if hexed is None:
        raise UsageError(
            f"invalid MAC address {_shown(text)}; use e.g. aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, "
            "aabb.ccdd.eeff or aabbccddeeff"
        )
    import netaddr

    try:
        eui = netaddr.EUI(hexed, dialect=netaddr.mac_bare)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise UsageError(f"invalid MAC address {_shown(text)}") from None
    out = str(eui).lower()
    if out != hexed:  # netaddr and our notation parser must agree
        raise UsageError(f"invalid MAC address {_shown(text)}")
    return out


def display_mac(hexed: str) -> str:
    return ":".join(hexed[i:i + 2] for i in range(0, 12, 2)) if len(hexed) == 12 else hexed


def vendor(hexed: str) -> str | None:
    """The OUI registrant, where netaddr's database knows it."""
    import netaddr

    try:
        return netaddr.EUI(hexed).oui.registration().org.strip() or None
    except (netaddr.NotRegisteredError, netaddr.AddrFormatError, ValueError, IndexError, AttributeError):
        return None


def with_vendor(hexed: str) -> str:
    name = vendor(hexed)
    return f"{display_mac(hexed)} ({name})" if name else display_mac(hexed)


def parse_ip(text: str) -> str | None:
    """Compressed IP (v4 or v6) or None."""
    import ipaddress

    if not isinstance(text, str) or len(text) > 45 or "/" in text or "%" in text:
        return None
    try:
        return ipaddress.ip_address(text.strip()).compressed
    except ValueError:
        return None


def canonical_ip(text: str) -> str:
    ip = parse_ip(text)
    if ip is None:
        raise UsageError(f"invalid IP address {_shown(text)}; use e.g. 192.0.2.10 or 2001:db8::1")
    return ip


def _shown(text) -> str:
    from netvault.values.names import shown

    return shown(str(text))
