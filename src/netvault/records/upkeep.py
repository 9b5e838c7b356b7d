"""What ``find`` reads, kept by every record writer: the global MAC/IP index
(``records.index`` buckets) and each customer's search document with its
per-person copies (``records.reach``); the convergence argument is in
docs/DESIGN.md, "Find index convergence". Part of ``records.Store``."""

from __future__ import annotations

from netvault.errors import Conflict, PermissionDenied
from netvault.records import index, lookup, reach, search
from netvault.records.lookup import record_path
from netvault.records.storebase import INDEX_RETRIES, KIND_WORDS, StoreBase
from netvault.vault.kv import kv_edit, kv_names, kv_read


class FindUpkeep(StoreBase):
    @staticmethod
    def _index_keys(name: str, data: dict) -> set[tuple[str, str]]:
        """The global index entries a device record calls for: (form, key)."""
        keys = {("mac", m) for m in data.get("macs") or []}
        keys |= {("ip", i) for i in data.get("ips") or []}
        return keys

    @staticmethod
    def _entries(customer: str, name: str, keys) -> list[index.Entry]:
        return [(what, key, customer, name) for what, key in sorted(keys)]

    def _index_add(self, customer: str, name: str, keys, vault=None) -> None:
        index.edit(vault or self.vault, self.kv, adds=self._entries(customer, name, keys))

    def _index_remove(self, customer: str, name: str, keys, vault=None) -> None:
        index.edit(vault or self.vault, self.kv, removes=self._entries(customer, name, keys))

    def _index_edit(self, path: str, list_key: str, entry, add: bool, vault=None) -> None:
        """Add/remove one entry of a per-key index list as written before the
        bucket documents (``_index/<mac|ip|name>/<key>``); only customer
        erase still edits those, to take an erased customer out of them."""
        def change(data):
            current = list(data.get(list_key) or [])
            if (entry in current) == add:
                return None
            new = current + [entry] if add else [e for e in current if e != entry]
            return {list_key: new}

        kv_edit(vault or self.vault, self.kv, path, change, retries=INDEX_RETRIES,
                gave_up=f"the find index at {path} kept changing; try again")

    def _settle_index(self, customer: str, name: str, touched: set[tuple[str, str]]) -> None:
        """Make the find index agree with the device as it is *now*, whatever
        other writers did meanwhile. Run by every writer after its record write
        (or failed write, or delete); ``touched``: entries it may have to drop.

        One pass: read the record, drop the touched entries it does not hold,
        add every entry it holds (idempotent), read again; if the record moved
        on meanwhile, pass again with what it held added to ``touched``.
        Why it converges to exactly the record's entries (docs/DESIGN.md,
        "Find index"): every removal is followed, by the same writer, by an add
        from a read it verified was current afterwards, so the last removal of
        an entry the final record holds is always undone; and every add comes
        from a version that held it, which the writer of the next version (a
        check-and-set write on top of it) removes after its own write.
        """
        path = record_path(customer, "devices", name)
        touched = set(touched)
        for _ in range(INDEX_RETRIES):
            got = self.read(path)
            seen = got[1].get("version") if got else None
            held = self._index_keys(name, got[0]) if got else set()
            index.edit(self.vault, self.kv, adds=self._entries(customer, name, held),
                       removes=self._entries(customer, name, touched - held))
            reach.edit_search(self.vault, self.kv, customer, {("devices", name): self._search_entry("devices", got)})
            again = self.read(path)
            if (again[1].get("version") if again else None) == seen:
                reach.propagate(self.vault, self.kv, customer)
                return
            touched |= held
        raise Conflict(f"device {customer}/{name} kept changing while its find entries were updated; "
                       "the change itself is saved; run the same command again once it is quiet")

    @staticmethod
    def _search_entry(kind: str, got) -> dict | None:
        """The search-document entry of a record as read (None: absent or deleted)."""
        if got is None:
            return None
        data, meta = got
        if kind == "credentials":
            return search.credential_entry(data, meta.get("version"))
        from netvault.values.macs import vendor

        vendors = [v for v in (vendor(m) for m in data.get("macs") or []) if v]
        return search.device_entry(data, meta.get("version"), vendors)

    def _search_ahead(self, customer: str, name: str, old, new: dict) -> None:
        """Before a device's record write, as with the index lists: put in an
        entry matching the old AND the new values (``search.union_entry``), so
        a writer that dies after its record write never leaves the device
        unfindable; its settle (or ``doctor --repair``) narrows it down."""
        entry = search.union_entry(self._search_entry("devices", old),
                                   self._search_entry("devices", (new, {"version": 0})) or {})
        reach.edit_search(self.vault, self.kv, customer, {("devices", name): entry})
        reach.propagate(self.vault, self.kv, customer)

    def _settle_search(self, customer: str, kind: str, name: str) -> None:
        """Make the customer's search document hold the record as it is now
        (credentials; devices settle in ``_settle_index``): write the entry
        from a read, read again, repeat if the record moved on; then copy the
        document to the people enrolled for the customer."""
        path = record_path(customer, kind, name)
        for _ in range(INDEX_RETRIES):
            got = self.read(path)
            seen = got[1].get("version") if got else None
            reach.edit_search(self.vault, self.kv, customer, {(kind, name): self._search_entry(kind, got)})
            again = self.read(path)
            if (again[1].get("version") if again else None) == seen:
                reach.propagate(self.vault, self.kv, customer)
                return
        raise Conflict(f"{KIND_WORDS[kind]} {customer}/{name} kept changing while find's index was updated; "
                       "the change itself is saved; run the same command again once it is quiet")

    def expected_search(self, customer: str, vault=None) -> dict:
        """The search document the customer's live records call for (doctor)."""
        vault = vault or self.vault
        doc: dict = {"devices": {}, "credentials": {}}
        for kind in ("devices", "credentials"):
            for n in self.list_names_with(vault, f"customers/{customer}/{kind}"):
                got = kv_read(vault, self.kv, record_path(customer, kind, n))
                if got is not None:
                    doc[kind][n] = self._search_entry(kind, got)
        return doc

    def list_names_with(self, vault, path: str) -> list[str]:
        return kv_names(vault, self.kv, path)

    def stored_search(self, customer: str, vault=None) -> dict | None:
        got = kv_read(vault or self.vault, self.kv, lookup.search_path(customer))
        return None if got is None else search.unpack(got[0].get("z"))

    def rebuild_search(self, customer: str) -> None:
        """Write the search document the records call for, then copy it to
        the people enrolled for the customer (``doctor --repair``; also how a
        customer made before search documents gets one)."""
        want = self.expected_search(customer)
        have = self.stored_search(customer) or {"devices": {}, "credentials": {}}
        changes = {(k, n): e for k in want for n, e in want[k].items()}
        changes.update({(k, n): None for k in have for n in have[k] if n not in want.get(k, {})})
        reach.edit_search(self.vault, self.kv, customer, changes)
        reach.propagate(self.vault, self.kv, customer)

    def _mac_holders(self, customer: str, name: str, macs) -> list[str]:
        """Other devices the caller may see that hold one of ``macs``, as
        "mac customer/device": from the global index where the caller may read
        it (leads, admins), else from this customer's search document. Index
        entries are checked against the device record, so a stale one refuses nothing."""
        found: list[str] = []
        for mac in macs:
            try:
                holders = index.holders(self.vault, self.kv, "mac", mac)
            except PermissionDenied:
                try:
                    doc = self.stored_search(customer) or {}
                except PermissionDenied:
                    doc = {}
                holders = [(customer, d) for d, e in (doc.get("devices") or {}).items() if mac in (e.get("m") or [])]
            for c, d in holders:
                if (c, d) == (customer, name) or not c or not d:
                    continue
                try:
                    rec = kv_read(self.vault, self.kv, record_path(c, "devices", d))
                except PermissionDenied:
                    rec = None
                if rec is not None and mac in (rec[0].get("macs") or []):
                    found.append(f"{mac} {c}/{d}")
        return found

    def _refuse_shared_macs(self, customer: str, name: str, macs, force: bool) -> None:
        if force or not macs:
            return
        shared = self._mac_holders(customer, name, macs)
        if shared:
            from netvault.values.macs import display_mac

            first_mac, first_dev = shared[0].split(" ", 1)
            raise Conflict(f"MAC {display_mac(first_mac)} is already on device {first_dev}"
                           + (f" (and {len(shared) - 1} more)" if len(shared) > 1 else "")
                           + "; a MAC names one device: give --force to record it anyway")
