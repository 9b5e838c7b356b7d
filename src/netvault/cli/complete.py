"""Shell completion of customer and record names, asked of Vault with the
caller's own token (issue 15).

Called by typer while the shell completes (``_NETVAULT_COMPLETE`` set). It
must be quick and silent: no token, no server, a refusal or any other
failure completes nothing and prints nothing. It sees only what Vault lets
the caller list (customers: the policies of their token, or every customer
for team leads and up; records: the folders of a customer they may list).
"""

from __future__ import annotations

import contextlib
import io

#: a completion waits at most this long for Vault (seconds)
TIMEOUT = 1.5
KINDS = ("credentials", "devices", "licences")


def _quiet(fn):
    def wrapper(incomplete: str = "", *args) -> list[str]:
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                return fn(incomplete or "")
        except BaseException:  # completion must never print or fail
            return []

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _client():
    from netvault.local import config
    from netvault.local.token_cache import current_token

    settings = config.load()
    token = current_token(settings)
    if not token:
        return None, None
    return settings, settings.vault(token, timeout=TIMEOUT, retries=0)


def _customers(vault, kv: str) -> list[str]:
    from netvault.records import lookup
    from netvault.values import names

    visible, _all = lookup.visible_customers(vault, kv)
    out = []
    for c in visible:
        try:
            out.append(names.slug(c, "customer"))  # only printable, valid names reach the shell
        except Exception:
            continue
    return out


@_quiet
def customers(incomplete: str) -> list[str]:
    """Customer slugs the caller may see, starting with ``incomplete``."""
    settings, vault = _client()
    if vault is None:
        return []
    return [c for c in _customers(vault, settings.mounts.kv) if c.startswith(incomplete)]


@_quiet
def records(incomplete: str) -> list[str]:
    """``CUSTOMER/`` first, then ``CUSTOMER/NAME`` of the customer's records."""
    settings, vault = _client()
    if vault is None:
        return []
    kv = settings.mounts.kv
    if "/" not in incomplete:
        return [f"{c}/" for c in _customers(vault, kv) if c.startswith(incomplete)]
    from netvault.values import names

    from netvault.vault.kv import CUSTOMERS, kv_list

    customer, _, prefix = incomplete.partition("/")
    names.slug(customer, "customer")
    found: set[str] = set()
    for kind in KINDS:
        try:
            keys = kv_list(vault, kv, f"{CUSTOMERS}/{customer}/{kind}")
        except Exception:
            continue
        for key in keys:
            if key.endswith("/"):
                continue
            try:
                found.add(names.slug(key, "record"))
            except Exception:
                continue
    return [f"{customer}/{n}" for n in sorted(found) if n.startswith(prefix)]
