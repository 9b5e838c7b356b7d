"""KV version 2, written once: paths, check-and-set writes, versions.

Every netvault module that reads or writes the KV mount goes through here,
so the rules of the mount are kept in one place:

* the mount has ``cas_required``: every data write names the version it
  replaces (``cas``; 0 = "must not exist yet"). A write over a version
  someone else wrote meanwhile fails with ``Conflict`` (exit 7) instead of
  silently overwriting it; ``kv_edit`` is the one retry loop for that;
* a KV v2 key has a *data* side (``<mount>/data/<path>``, one document per
  version) and a *metadata* side (``<mount>/metadata/<path>``: versions,
  ``current_version``, deletion and destruction times). Listing, erasing and
  "what version is current" go through metadata; a role may be allowed one
  side and not the other (auditors read metadata, not bodies);
* deleting is soft (a version can be undeleted) unless versions are
  destroyed or the metadata is erased.

Paths given to the functions below are relative to the mount (``kv``, e.g.
``"netvault"``). Stdlib only and no import of the HTTP client at run time:
``reveal`` and ``find`` import this on their hot path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from netvault.errors import Conflict, NotFound

if TYPE_CHECKING:
    from netvault.vault.client import Vault

# -- fixed places in the mount (named once; docs/DESIGN.md has the layout) -----
#: instance settings (incident patterns, history depth, login TTL, ...)
SETTINGS_PATH = "_config/settings"
#: one folder per customer: ``customers/<c>/<kind>/<name>``, ``.../profile``
CUSTOMERS = "customers"
#: grant records ``_grants/<customer>/<user>``
GRANTS = "_grants"
#: time-limited grants waiting for their holder ``_inbox/<entity id>/<customer>``
INBOX = "_inbox"
#: access requests ``_requests/<user>/<customer>`` (one version per request)
REQUESTS = "_requests"
#: decisions on requests ``_decisions/<user>/<customer>/<request version>``
DECISIONS = "_decisions"
#: locks serialising edits of an identity group ``_locks/groups/<group>``
GROUP_LOCKS = "_locks/groups"
#: reviews of audit events ``_reviews/<event>`` (append-only)
REVIEWS = "_reviews"
#: signed digests of the audit log ``_audit/digests/<seq>``
AUDIT_DIGESTS = "_audit/digests"
#: end-of-service state per customer ``_lifecycle/<customer>/...``
LIFECYCLE = "_lifecycle"
#: per-person copies of search documents ``_reach/<entity id>``
REACH = "_reach"
#: stored offboarding worklists ``_offboarded/<user>/<run>``
OFFBOARDED = "_offboarded"

#: how often ``kv_edit`` re-reads and tries again before giving up: enough for
#: a burst of writers on one key, bounded so a stuck key cannot spin forever
EDIT_RETRIES = 20


# -- paths (pure) -------------------------------------------------------------
def data_path(kv: str, path: str, version: int | None = None) -> str:
    """API path of a key's data (``version``: that version, not the newest)."""
    query = f"?version={int(version)}" if version else ""
    return f"{kv}/data/{path}{query}"


def metadata_path(kv: str, path: str) -> str:
    """API path of a key's metadata; also what LIST and "erase" use."""
    return f"{kv}/metadata/{path}"


def _versions_path(kv: str, verb: str, path: str) -> str:
    return f"{kv}/{verb}/{path}"


# -- metadata (pure) ------------------------------------------------------------
def current_version_of(metadata: dict | None) -> int:
    """The newest version in a key's metadata (0 = never written): the ``cas``
    a write on top of it needs, whether that version is live or deleted."""
    return int((metadata or {}).get("current_version") or 0)


def is_live(metadata: dict | None) -> bool:
    """Does the key hold a readable newest version (written, neither deleted
    nor destroyed)? A deleted one still counts for ``cas``, not as existing."""
    version = current_version_of(metadata)
    if not version:
        return False
    newest = ((metadata or {}).get("versions") or {}).get(str(version)) or {}
    return not newest.get("deletion_time") and not newest.get("destroyed")


def version_numbers(metadata: dict | None) -> list[int]:
    """Every version the metadata still lists, oldest first."""
    return sorted(int(v) for v in ((metadata or {}).get("versions") or {}) if str(v).isdigit())


# -- reads ------------------------------------------------------------------------
def kv_read(vault: Vault, kv: str, path: str, version: int | None = None) -> tuple[dict, dict] | None:
    """(data, version metadata) of the newest version, or of ``version``;
    None when absent, deleted or destroyed (Vault answers 404 for those)."""
    resp = vault.read(data_path(kv, path, version))
    if not resp or not resp.get("data") or resp["data"].get("data") is None:
        return None
    return resp["data"]["data"], resp["data"].get("metadata") or {}


def kv_data(vault: Vault, kv: str, path: str, version: int | None = None) -> dict | None:
    """Just the data of ``kv_read`` (None when there is none to read)."""
    got = kv_read(vault, kv, path, version)
    return got[0] if got else None


def kv_metadata(vault: Vault, kv: str, path: str) -> dict | None:
    """The key's metadata (``current_version``, ``versions``), None when absent."""
    resp = vault.read(metadata_path(kv, path))
    return (resp or {}).get("data") or None


def current_version(vault: Vault, kv: str, path: str) -> int:
    """The ``cas`` a write of ``path`` needs now (0 = absent). Reads metadata:
    a deleted newest version still counts, and its data cannot be read."""
    return current_version_of(kv_metadata(vault, kv, path))


def read_for_update(vault: Vault, kv: str, path: str) -> tuple[dict | None, int]:
    """(data or None, cas) for a read-modify-write. One read when the key is
    live (its version is the cas); when absent or deleted, the metadata gives
    the cas, so the write supersedes a deleted version instead of failing."""
    got = kv_read(vault, kv, path)
    if got is not None:
        return dict(got[0]), int(got[1].get("version") or 0)
    return None, current_version(vault, kv, path)


def kv_list(vault: Vault, kv: str, path: str) -> list[str]:
    """Keys under a folder as Vault lists them (folders end in "/"); [] when none."""
    return vault.list(metadata_path(kv, path))


def kv_names(vault: Vault, kv: str, path: str) -> list[str]:
    """The keys (not folders) directly under a folder, sorted."""
    return sorted(k for k in kv_list(vault, kv, path) if not k.endswith("/"))


def kv_folders(vault: Vault, kv: str, path: str) -> list[str]:
    """The folders directly under a folder, sorted, without the trailing "/"."""
    return sorted(k.rstrip("/") for k in kv_list(vault, kv, path) if k.endswith("/"))


# -- writes -----------------------------------------------------------------------
def kv_write(vault: Vault, kv: str, path: str, data: dict, *, cas: int) -> int:
    """Write ``data`` as the version after ``cas``; returns the version written.
    ``Conflict`` when the key moved past ``cas`` meanwhile (nothing written)."""
    resp = vault.write(data_path(kv, path), {"data": data, "options": {"cas": int(cas)}})
    return int(((resp or {}).get("data") or {}).get("version") or 0)


def kv_create(vault: Vault, kv: str, path: str, data: dict) -> int:
    """Write version 1 of a key that must not exist (``cas=0``); ``Conflict``
    when it does. Also how create-only records (reviews, decisions, digests)
    are kept from being rewritten by a role that holds "create" but no "update"."""
    return kv_write(vault, kv, path, data, cas=0)


def kv_edit(vault: Vault, kv: str, path: str, change: Callable[[dict], dict | None], *,
            retries: int = EDIT_RETRIES, gave_up: str | None = None) -> dict | None:
    """Read-modify-write under check-and-set, tried again when another writer
    got in between. ``change(data)`` gets a copy of the current data (``{}``
    when absent or deleted) and returns the new data, or None for "nothing
    to write". It may run several times, so it must only compute. Returns
    what was written (None: nothing); ``Conflict(gave_up)`` after ``retries``."""
    for _ in range(retries):
        data, cas = read_for_update(vault, kv, path)
        new = change(data or {})
        if new is None:
            return None
        try:
            kv_write(vault, kv, path, new, cas=cas)
            return new
        except Conflict:
            continue
    raise Conflict(gave_up or f"{path} kept changing while it was being updated; try again")


# -- deleting ---------------------------------------------------------------------
def kv_delete_latest(vault: Vault, kv: str, path: str) -> None:
    """Soft-delete the newest version, whichever it is now (undeletable)."""
    vault.delete(data_path(kv, path))


def kv_delete_versions(vault: Vault, kv: str, path: str, versions: list[int]) -> None:
    """Soft-delete exactly these versions: unlike ``kv_delete_latest`` a write
    that landed after the caller's read is not deleted unseen."""
    vault.write(_versions_path(kv, "delete", path), {"versions": [int(v) for v in versions]})


def kv_undelete_versions(vault: Vault, kv: str, path: str, versions: list[int]) -> None:
    """Bring soft-deleted versions back (destroyed ones stay gone)."""
    vault.write(_versions_path(kv, "undelete", path), {"versions": [int(v) for v in versions]})


def kv_destroy_versions(vault: Vault, kv: str, path: str, versions: list[int]) -> None:
    """Destroy these versions' data for good; the metadata keeps their numbers."""
    vault.write(_versions_path(kv, "destroy", path), {"versions": [int(v) for v in versions]})


def kv_erase(vault: Vault, kv: str, path: str) -> None:
    """Every version and the metadata of a key: nothing of it is left."""
    vault.delete(metadata_path(kv, path))


def delete_quietly(vault: Vault, api_path: str) -> bool:
    """DELETE any API path (KV or not, e.g. an identity group); False when it
    was not there. For clean-ups that must go on when a part is gone already."""
    try:
        vault.delete(api_path)
        return True
    except NotFound:
        return False


# -- settings ---------------------------------------------------------------------
def settings(vault: Vault, kv: str) -> dict:
    """The instance settings (``{}`` when none are stored)."""
    return kv_data(vault, kv, SETTINGS_PATH) or {}
