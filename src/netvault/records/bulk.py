"""Bulk writes for imports: one record brought to a given state
(``write_record``), with find's index and search entries batched by the
caller (``importing.apply``). Part of ``records.Store``."""

from __future__ import annotations

import uuid

from netvault.errors import Conflict, UsageError
from netvault.records import index, lookup
from netvault.records.lookup import parallel, record_path
from netvault.records.storebase import INDEX_RETRIES, KIND_WORDS, _merge, kind_dir
from netvault.records.upkeep import FindUpkeep
from netvault.vault.kv import CUSTOMERS, kv_names, kv_read


class BulkWrites(FindUpkeep):
    # -- bulk writes (import) ----------------------------------------------
    def existing_names(self, customer: str, kind: str, vault=None) -> set[str]:
        """Names under customers/<c>/<kind>/ (live or soft-deleted): one LIST."""
        kind = kind_dir(kind)
        return set(kv_names(vault or self.vault, self.kv, f"{CUSTOMERS}/{customer}/{kind}"))

    def _collect(self, collect: dict | None, kind: str, name: str, data: dict, version: int) -> None:
        if collect is not None and kind in ("devices", "credentials"):
            collect[(kind, name)] = self._search_entry(kind, (data, {"version": version}))

    def index_ahead(self, customer: str, name: str, fields: dict) -> list[index.Entry]:
        """The global index entries an import's device values call for, for
        the caller to add in one batch *before* the records are written (so a
        crash leaves at most stale entries, never a device its index lacks).
        Values the file does not give (no ``macs``/``ips`` key) keep what is
        stored, which is indexed already."""
        return self._entries(customer, name, self._index_keys(name, fields))

    def index_drop_settled(self, dropped: list[index.Entry], threads: int = 16) -> None:
        """Remove index entries updated devices no longer hold (one edit per
        bucket), then read those devices again and put back any entry a record
        holds now (a writer that changed it back meanwhile): as in
        ``_settle_index``, every removal is followed by an add from a read made
        after it, so no entry a device holds stays removed."""
        index.edit(self.vault, self.kv, removes=dropped, threads=threads)
        devices = sorted({(c, d) for _, _, c, d in dropped})

        def held(client, cd):
            got = kv_read(client, self.kv, record_path(cd[0], "devices", cd[1]))
            return self._index_keys(cd[1], got[0]) if got else set()

        now = dict(zip(devices, parallel(self.vault, devices, held, threads=threads)))
        back = [e for e in dropped if (e[0], e[1]) in now[(e[2], e[3])]]
        if back:
            index.edit(self.vault, self.kv, adds=back, threads=threads)

    def write_record(self, kind: str, customer: str, name: str, fields: dict, secrets: dict[str, str], *,
                     vault=None, known_new: bool = False, dry_run: bool = False,
                     collect: dict | None = None, indexed: bool = False,
                     dropped: list | None = None) -> tuple[str, str]:
        """Bring one record to the given state, for imports: ``created``,
        ``unchanged`` or ``updated`` (with the names of the changed fields).

        ``fields``: validated non-secret fields (``device_values`` /
        ``_credential_fields`` / ``_licence_fields`` output); a key with ``""``
        or ``[]`` clears that field, a key that is absent keeps it. ``secrets``:
        validated plaintexts (``_secret_fields``); fields not given keep their
        sealed value, and so does a sealed field set outside an import (no
        fingerprint: ``add``, ``credential rotate``). Nothing is decrypted: a secret counts as unchanged when
        its keyed fingerprint (``fingerprints``) matches the one stored at the
        previous import. Same check-and-set as ``add_*`` / ``edit_*``, on
        ``vault`` (one client per thread). ``known_new``: the
        caller listed the names and this one is not there (skips two reads;
        a concurrent create still ends in the check-and-set and a retry).
        ``customer`` must exist (the caller checks, once per customer).

        Requests: a new device is ONE write (no ``_ids`` entry: a device has
        no sealed field, so its id never appears in a transit context the
        audit reader must name). A new credential or licence adds its seal,
        fingerprint and create-only ``_ids`` entry. Batching (imports):
        ``collect`` gets ``(kind, name) -> search entry`` of the record as
        written (or found unchanged), for the customer's search document
        written once per batch (``reach.edit_search(only_newer=True)``);
        ``indexed``: the caller already added the device's global index
        entries (``index_ahead``, one bucket write per batch); ``dropped``
        gets the entries an update no longer holds, for the caller to remove
        in one batch after the writes. Without them each record does its own."""
        kind = kind_dir(kind)
        vault = vault or self.vault
        path = record_path(customer, kind, name)
        what = f"{KIND_WORDS[kind]} {customer}/{name}"
        for _ in range(INDEX_RETRIES):
            got = None if known_new else kv_read(vault, self.kv, path)
            if got is None:
                if dry_run:
                    return "created", ""
                cas = 0 if known_new else int((self.meta(path, vault) or {}).get("current_version") or 0)
                record_id = uuid.uuid4().hex
                data = {"id": record_id, **{k: v for k, v in fields.items() if v not in (None, "", [])}}
                if kind in lookup.SECRET_KINDS:
                    if kind == "credentials" and not secrets:
                        raise UsageError(f"{what}: a new credential needs at least one secret field")
                    data["secrets"] = self.seal(customer, record_id, secrets, vault)
                    if secrets:
                        data["fingerprints"] = self.fingerprints(customer, record_id, secrets, vault)
                    self._write_id(customer, record_id, KIND_WORDS[kind], name, vault)
                if kind == "devices" and not indexed:
                    self._index_add(customer, name, self._index_keys(name, data), vault)
                try:
                    written = self.put(path, data, cas, vault)
                    self._collect(collect, kind, name, data, written)
                    return "created", ""
                except Conflict:  # someone wrote it meanwhile: compare with theirs
                    known_new = False
                    continue
            data, meta = got
            version = int(meta.get("version") or 0)
            new = _merge(data, fields)
            changed = sorted(k for k in set(new) | set(data) if new.get(k) != data.get(k))
            # a sealed value with no fingerprint was set outside an import
            # (add, credential rotate): the file must not silently revert it
            kept = sorted(f for f in secrets if f in (data.get("secrets") or {}) and f not in (data.get("fingerprints") or {}))
            candidates = {f: v for f, v in secrets.items() if f not in kept}
            same = self._unchanged_secrets(customer, data, candidates, vault) if candidates else set()
            resealed = {f: v for f, v in candidates.items() if f not in same}
            kept_note = f"kept the stored {', '.join(kept)} (set outside an import)" if kept else ""
            if not changed and not resealed:
                self._collect(collect, kind, name, data, version)
                return "unchanged", kept_note
            reason = "; ".join(r for r in ("changed: " + ", ".join(changed + sorted(resealed)), kept_note) if r)
            if dry_run:
                return "updated", reason
            if resealed:
                new["secrets"] = {**(data.get("secrets") or {}), **self.seal(customer, data["id"], resealed, vault)}
                new["fingerprints"] = {**(data.get("fingerprints") or {}),
                                       **self.fingerprints(customer, data["id"], resealed, vault)}
            old_keys = new_keys = set()
            if kind == "devices":
                old_keys, new_keys = self._index_keys(name, data), self._index_keys(name, new)
                if not indexed:
                    self._index_add(customer, name, new_keys - old_keys, vault)
            try:
                written = self.put(path, new, version, vault)
            except Conflict:
                continue
            self._collect(collect, kind, name, new, written)
            if old_keys - new_keys:
                if dropped is not None:
                    dropped.extend(self._entries(customer, name, old_keys - new_keys))
                else:
                    self._index_remove(customer, name, old_keys - new_keys, vault)
            return "updated", reason
        raise Conflict(f"{what} kept changing during the import; run it again")
