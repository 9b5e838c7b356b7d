"""Keep the search documents and the per-person copies (``_reach``) current.

Writers only (record writers, grant, revoke, offboarding); ``find`` reads
through ``lookup``. Layout and the convergence argument: docs/DESIGN.md,
"Find: search documents and per-person copies". In short:

* ``customers/<c>/_index/search`` (``{"z": blob}``) is edited with
  check-and-set by every writer of a device or credential, from a record
  read it verifies afterwards (``records.Store._settle_*``);
* ``_readers/<c>`` = ``{"e": JSON of {entity id: user}}``: who holds a
  *standing* grant of ``c`` made by ``netvault grant`` (enrolled after the
  grant group exists);
* ``_reach/<entity id>`` = ``{"c": JSON of {c: {"z": blob, "n": version}}}``
  (``search.copies``): the person's copies. After every copy a writer checks the grant group
  still holds that entity and takes the copy back if not; a revoke deletes
  the group first and the copy after. So whichever order a revoke and a
  copy interleave in, the last step leaves no copy for a revoked grant.
"""

from __future__ import annotations

from netvault.records import search
from netvault.errors import Conflict, NetvaultError, PermissionDenied
from netvault.records.lookup import parallel, reach_path, readers_path, search_path
from netvault.vault.kv import kv_edit, kv_erase, kv_read, kv_write

RETRIES = 20
#: a person's copies are kept under this size (raft refuses entries over
#: 1 MiB by default); customers that do not fit are read directly by find
REACH_MAX = 768 * 1024


def _put(vault, kv: str, path: str, data: dict, cas: int) -> None:
    kv_write(vault, kv, path, data, cas=cas)


def _edit(vault, kv: str, path: str, change) -> dict | None:
    """Read-modify-write with check-and-set, retried (``vault.kv.kv_edit``);
    ``change(data)`` returns the new data, or None for "nothing to do"."""
    return kv_edit(vault, kv, path, change, retries=RETRIES, gave_up=f"the find index at {path} kept changing; try again")


# -- the customer's search document -------------------------------------------
def edit_search(vault, kv: str, customer: str, changes: dict, *, only_newer: bool = False) -> None:
    """Apply ``{(kind, name): entry | None}`` to the customer's search document."""
    def change(data):
        doc = search.unpack(data.get("z"))
        if not search.apply_changes(doc, changes, only_newer) and data.get("z"):
            return None
        return {"z": search.pack(doc)}

    _edit(vault, kv, search_path(customer), change)


def create_search(vault, kv: str, customer: str) -> None:
    """An empty search document for a new customer (cas=0; one that exists is kept)."""
    try:
        _put(vault, kv, search_path(customer), {"z": search.pack({"devices": {}, "credentials": {}})}, 0)
    except Conflict:
        pass


# -- per-person copies ---------------------------------------------------------
def _grant_holds(vault, customer: str, user: str, entity_id: str) -> bool:
    """Does the grant group of (customer, user) exist and hold the entity?"""
    from netvault.access.grants import grant_group

    try:
        got = vault.read(f"identity/group/name/{grant_group(customer, user)}")
    except NetvaultError:
        return False
    members = ((got or {}).get("data") or {}).get("member_entity_ids") or []
    return entity_id in members


def _set_copy(vault, kv: str, entity_id: str, customer: str, blob: str | None, version: int) -> None:
    def change(data):
        held = search.copies(data)
        old = held.get(customer)
        if blob is None:
            if customer not in held:
                return None
            held.pop(customer)
        else:
            if old is not None and old.get("z") == blob:
                return None
            if old is not None and int(old.get("n") or 0) > version:
                return None  # a newer copy landed first
            held[customer] = {"z": blob, "n": int(version)}
            if sum(len(c["z"]) for c in held.values()) > REACH_MAX:
                held.pop(customer)  # too big: find reads this customer directly
                if old is None:
                    return None
        return search.reach_data(held)

    _edit(vault, kv, reach_path(entity_id), change)


def drop_copy(vault, kv: str, entity_id: str, customer: str) -> None:
    _set_copy(vault, kv, entity_id, customer, None, 0)


def _entities(data) -> dict[str, str]:
    import json

    try:
        raw = data.get("e") if isinstance(data, dict) else None
        ents = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        return {}
    return {k: v for k, v in ents.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(ents, dict) else {}


def _readers(vault, kv: str, customer: str) -> dict[str, str]:
    got = kv_read(vault, kv, readers_path(customer))
    return _entities(got[0]) if got else {}


def _set_reader(vault, kv: str, customer: str, entity_id: str, user: str | None) -> None:
    import json

    def change(data):
        ents = _entities(data)
        if user is None:
            if entity_id not in ents:
                return None
            ents.pop(entity_id)
        else:
            if ents.get(entity_id) == user:
                return None
            ents[entity_id] = user
        return {"e": json.dumps(ents, separators=(",", ":"), sort_keys=True)}

    _edit(vault, kv, readers_path(customer), change)


def _copy_to(vault, kv: str, customer: str, entity_id: str, user: str, blob: str, version: int) -> None:
    """Copy, then verify the grant still holds; take the copy back if not."""
    _set_copy(vault, kv, entity_id, customer, blob, version)
    if not _grant_holds(vault, customer, user, entity_id):
        drop_copy(vault, kv, entity_id, customer)
        _set_reader(vault, kv, customer, entity_id, None)


def propagate(vault, kv: str, customer: str) -> None:
    """Copy the customer's current search document to everyone enrolled for it."""
    readers = _readers(vault, kv, customer)
    if not readers:
        return
    got = kv_read(vault, kv, search_path(customer))
    if got is None:
        return
    blob, version = got[0].get("z"), int(got[1].get("version") or 0)
    if not isinstance(blob, str):
        return
    parallel(vault, sorted(readers.items()),
             lambda client, r: _copy_to(client, kv, customer, r[0], r[1], blob, version))


def enrol(vault, kv: str, customer: str, user: str, entity_id: str) -> None:
    """After a standing grant's group exists: register the person for the
    customer and give them a copy of its search document."""
    _set_reader(vault, kv, customer, entity_id, user)
    got = kv_read(vault, kv, search_path(customer))
    if got is None or not isinstance(got[0].get("z"), str):
        return  # no search document yet: find reads the customer directly
    _copy_to(vault, kv, customer, entity_id, user, got[0]["z"], int(got[1].get("version") or 0))


def withdraw(vault, kv: str, customer: str, entity_id: str) -> None:
    """After a grant's group is gone: take the copy back and unregister."""
    drop_copy(vault, kv, entity_id, customer)
    _set_reader(vault, kv, customer, entity_id, None)


def forget_person(vault, kv: str, entity_id: str) -> None:
    """Offboarding: remove the person's copies altogether (every version)."""
    try:
        got = kv_read(vault, kv, reach_path(entity_id))
    except PermissionDenied:
        got = None
    for c in search.copies(got[0] if got else {}):
        try:
            _set_reader(vault, kv, c, entity_id, None)
        except NetvaultError:
            pass
    try:
        kv_erase(vault, kv, reach_path(entity_id))
    except NetvaultError:
        _edit(vault, kv, reach_path(entity_id), lambda d: search.reach_data({}) if search.copies(d) else None)
