"""Customer records in KV v2, secret fields sealed by transit. No printing, no typer.

Layout and rules: docs/DESIGN.md. In short:

- every write carries ``options.cas`` (the mount has ``cas_required``); a
  mismatch is ``Conflict`` (exit 7), never a silent overwrite;
- a record gets a stable id (``uuid4().hex``) at creation; ``_ids/<id>`` maps
  it back to the record for the auditor;
- secret fields are ``encrypt/customer-<c>`` ciphertexts with
  ``context = base64(id)``; nothing here ever decrypts (see ``lookup.reveal``);
- devices keep a MAC/IP index at write time, per customer and global.

Write order is chosen so a failure leaves nothing a retry trips over: side
entries (key, policy, ``_ids``, index) first and idempotent, the record last.
Index entries that point at a device which is not (or no longer) there are
harmless: ``lookup.find`` checks each hit against the device record.
"""

from __future__ import annotations

import base64
import uuid
from datetime import date, timedelta

from netvault.records import lookup
from netvault.values import names
from netvault.vault import policies
from netvault.records import reach
from netvault.records import search
from netvault.values import validate
from netvault.local.config import DEFAULT_INCIDENT_PATTERNS, Mounts
from netvault.errors import Conflict, NetvaultError, NotFound, PermissionDenied, UsageError
from netvault.records.lookup import (
    customer_index_path, global_index_path, ids_path, kv_read, parallel, profile_path,
    record_path, transit_key,
)

PROFILE_FIELDS = ("company", "address", "postcode", "city", "contact", "phone", "email", "kvk", "vat", "bank", "notes",
                  "retention")
DEVICE_KINDS = ("modem", "router", "firewall", "switch", "access-point", "server", "nas", "printer", "other")
KIND_WORDS = {"credentials": "credential", "devices": "device", "licences": "licence", "customer": "customer"}
SETTINGS_PATH = "_config/settings"
INDEX_RETRIES = 20
#: record key: secret field -> KV version whose write sealed a new value for it
#: (set when a value is sealed from new input; kept on edits and rewraps).
#: ``audit exposure`` confirms it against the KV history and the trail.
SECRETS_CHANGED = "secrets_changed"


def stamp_secrets(data: dict, fields, version: int) -> dict:
    """Record that ``fields`` got new values in KV version ``version``; stamps of
    fields no longer sealed are dropped, the others kept."""
    sealed = data.get("secrets") or {}
    old = data.get(SECRETS_CHANGED)
    stamps = {k: v for k, v in (old.items() if isinstance(old, dict) else ())
              if k in sealed and isinstance(v, int) and not isinstance(v, bool)}
    for f in fields:
        stamps[f] = int(version)
    data[SECRETS_CHANGED] = stamps
    return data


def kind_dir(word: str) -> str:
    """'credential' | 'device' | 'licence' -> KV sub-directory."""
    for plural, single in KIND_WORDS.items():
        if word in (plural, single) and plural != "customer":
            return plural
    raise UsageError(f"unknown record kind {names.shown(word)}; credential, device or licence")


def _profile(values: dict) -> dict:
    out = {}
    for key, value in values.items():
        if key not in PROFILE_FIELDS:
            raise UsageError(f"unknown profile field {names.shown(key)}")
        if value is None:
            continue
        check = {
            "email": validate.email, "phone": validate.phone, "kvk": validate.kvk,
            "vat": validate.vat, "bank": validate.iban, "notes": validate.notes,
            "retention": _retention,
        }.get(key)
        out[key] = check(value) if check else validate.text(value, key)
    return out


def _retention(value):
    from netvault.lifecycle.service_end import retention_field

    return retention_field(value)


def _merge(current: dict, changes: dict) -> dict:
    """Apply changes; an empty string clears a field."""
    out = dict(current)
    for key, value in changes.items():
        if value is None:
            continue
        if value == "" or value == []:
            out.pop(key, None)
        else:
            out[key] = value
    return out


class Store:
    """Records of every customer, through one ``gateway.Vault``."""

    def __init__(self, vault, mounts: Mounts | None = None) -> None:
        self.vault = vault
        self.mounts = mounts or Mounts()
        self.kv = self.mounts.kv
        self.transit = self.mounts.transit

    # -- KV primitives ---------------------------------------------------
    def read(self, path: str, version: int | None = None):
        return kv_read(self.vault, self.kv, path, version)

    def meta(self, path: str, vault=None) -> dict | None:
        resp = (vault or self.vault).read(f"{self.kv}/metadata/{path}")
        return (resp or {}).get("data") or None

    def put(self, path: str, data: dict, cas: int, vault=None) -> int:
        resp = (vault or self.vault).write(f"{self.kv}/data/{path}", {"data": data, "options": {"cas": int(cas)}})
        return int(((resp or {}).get("data") or {}).get("version") or 0)

    def create(self, path: str, data: dict, what: str, sealed=()) -> int:
        """Write a new record; Conflict if a live one exists (a deleted one is superseded).
        ``sealed``: secret fields sealed for it (stamped with the version written)."""
        meta = self.meta(path)
        cas = 0
        if meta:
            cas = int(meta.get("current_version") or 0)
            current = (meta.get("versions") or {}).get(str(cas)) or {}
            if cas and not current.get("deletion_time") and not current.get("destroyed"):
                raise Conflict(f"{what} already exists")
        if sealed:
            stamp_secrets(data, sealed, cas + 1)
        return self.put(path, data, cas)

    def current(self, path: str, what: str) -> tuple[dict, int]:
        got = self.read(path)
        if got is None:
            raise NotFound(f"no {what}")
        data, meta = got
        return data, int(meta.get("version") or 0)

    def update(self, path: str, what: str, change, if_version: int | None = None) -> tuple[dict, int]:
        """Read-modify-write with check-and-set. ``if_version``: the version the
        caller last saw; if it moved on, Conflict (exit 7)."""
        data, version = self.current(path, what)
        if if_version is not None and int(if_version) != version:
            raise Conflict(f"{what} changed meanwhile (now version {version}, you expected {if_version}); re-read and try again")
        new = change(dict(data))
        return new, self.put(path, new, version)

    def history(self, path: str, what: str) -> dict:
        meta = self.meta(path)
        if not meta:
            raise NotFound(f"no {what}")
        versions = []
        for number, info in sorted((meta.get("versions") or {}).items(), key=lambda kv: int(kv[0])):
            versions.append({
                "version": int(number), "created_time": info.get("created_time"),
                "deleted": bool(info.get("deletion_time")), "destroyed": bool(info.get("destroyed")),
            })
        return {"current_version": int(meta.get("current_version") or 0), "versions": versions}

    def soft_delete(self, path: str, what: str) -> None:
        if self.read(path) is None:
            raise NotFound(f"no {what}")
        self.vault.delete(f"{self.kv}/data/{path}")

    def list_names(self, path: str) -> list[str]:
        return sorted(k.rstrip("/") for k in self.vault.list(f"{self.kv}/metadata/{path}") if not k.endswith("/"))

    # -- transit -----------------------------------------------------------
    def seal(self, customer: str, record_id: str, secrets: dict[str, str], vault=None) -> dict[str, str]:
        """Encrypt secret fields for one record (one batch request)."""
        if not secrets:
            return {}
        fields = list(secrets)
        context = lookup.context_for(record_id)
        batch = [{"plaintext": base64.b64encode(secrets[f].encode()).decode(), "context": context} for f in fields]
        resp = (vault or self.vault).write(f"{self.transit}/encrypt/{transit_key(customer)}", {"batch_input": batch},
                                           idempotent=True)
        results = ((resp or {}).get("data") or {}).get("batch_results") or []
        if len(results) != len(fields) or any(r.get("error") or not r.get("ciphertext") for r in results):
            raise NetvaultError(f"Vault did not seal the secret fields for customer {customer}")
        return {f: r["ciphertext"] for f, r in zip(fields, results)}

    def rewrap(self, customer: str, record_id: str, sealed: dict[str, str], vault=None) -> dict[str, str]:
        if not sealed:
            return {}
        fields = list(sealed)
        context = lookup.context_for(record_id)
        batch = [{"ciphertext": sealed[f], "context": context} for f in fields]
        resp = (vault or self.vault).write(f"{self.transit}/rewrap/{transit_key(customer)}", {"batch_input": batch})
        results = ((resp or {}).get("data") or {}).get("batch_results") or []
        if len(results) != len(fields) or any(r.get("error") or not r.get("ciphertext") for r in results):
            raise NetvaultError(f"Vault did not rewrap the secret fields of a record in {customer}")
        return {f: r["ciphertext"] for f, r in zip(fields, results)}

    def _write_id(self, customer: str, record_id: str, kind: str, name: str, vault=None) -> None:
        self.put(ids_path(customer, record_id), {"kind": kind, "name": name, "customer": customer}, 0, vault)

    def fingerprints(self, customer: str, record_id: str, secrets: dict[str, str], vault=None,
                     key_version: int | None = None) -> dict[str, str]:
        """Keyed fingerprints of secret plaintexts: transit ``hmac/customer-<c>``
        over (record id, field, value), one batch request. Stored beside the
        sealed fields so an import can tell a value is unchanged without
        decrypting anything; bound to the record, so equal passwords in two
        records do not show as equal fingerprints."""
        if not secrets:
            return {}
        fields = list(secrets)
        batch = [{"input": base64.b64encode(f"netvault-fp\0{record_id}\0{f}\0".encode() + secrets[f].encode()).decode()}
                 for f in fields]
        body: dict = {"batch_input": batch}
        if key_version:
            body["key_version"] = int(key_version)
        resp = (vault or self.vault).write(f"{self.transit}/hmac/{transit_key(customer)}", body)
        results = ((resp or {}).get("data") or {}).get("batch_results") or []
        if len(results) != len(fields) or any(r.get("error") or not r.get("hmac") for r in results):
            raise NetvaultError(f"Vault did not fingerprint the secret fields for customer {customer}")
        return {f: r["hmac"] for f, r in zip(fields, results)}

    def _unchanged_secrets(self, customer: str, record: dict, secrets: dict[str, str], vault=None) -> set[str]:
        """Fields of ``secrets`` whose stored fingerprint matches the given value."""
        stored = record.get("fingerprints") or {}
        sealed = record.get("secrets") or {}
        by_version: dict[int, dict[str, str]] = {}
        for field, value in secrets.items():
            fp = stored.get(field)
            if field in sealed and isinstance(fp, str) and fp.startswith("vault:v") and fp.count(":") >= 2:
                version = fp.split(":")[1][1:]
                if version.isdigit():
                    by_version.setdefault(int(version), {})[field] = value
        same = set()
        for version, values in by_version.items():
            try:
                fresh = self.fingerprints(customer, record["id"], values, vault, key_version=version)
            except UsageError:  # e.g. that key version was trimmed: cannot tell, so not "same"
                continue
            same |= {f for f, fp in fresh.items() if fp == stored.get(f)}
        return same

    # -- customers ---------------------------------------------------------
    def incident_patterns(self) -> list[str]:
        got = self.read(SETTINGS_PATH)
        patterns = (got[0].get("incident_patterns") if got else None) or list(DEFAULT_INCIDENT_PATTERNS)
        return list(patterns)

    def add_customer(self, customer: str, profile: dict) -> dict:
        """Admin only: creates the customer's transit key and policy, then the profile.
        Key and policy are idempotent, so a failed add can simply be retried."""
        names.slug(customer, "customer")
        data = _profile(profile)
        what = f"customer {customer}"
        meta = self.meta(profile_path(customer))
        if meta and self.read(profile_path(customer)) is not None:
            raise Conflict(f"{what} already exists")
        patterns = self.incident_patterns()
        key = transit_key(customer)
        try:
            existing = self.vault.read(f"{self.transit}/keys/{key}")
            if existing is None:
                # never "exportable"/"allow_plaintext_backup", not even false: nv-admin denies them
                self.vault.write(f"{self.transit}/keys/{key}", {"type": "aes256-gcm96", "derived": True})
                existing = self.vault.read(f"{self.transit}/keys/{key}")
            flags = (existing or {}).get("data") or {}
            if not flags.get("derived") or flags.get("exportable") or flags.get("allow_plaintext_backup"):
                raise NetvaultError(
                    f"transit key {key} exists but is not derived or may leave Vault (exportable, "
                    "plaintext backup); it was not made by `customer add`: fix it by hand")
            self.vault.write(
                f"sys/policies/acl/{policies.customer_policy_name(customer)}",
                {"policy": policies.render_customer(customer, patterns, mounts=self.mounts)},
            )
            ended = f"sys/policies/acl/{policies.ended_policy_name(customer)}"
            if self.vault.read(ended) is None:
                self.vault.write(ended, {"policy": policies.render_not_ended(customer)})
            skipped = self.sync_customer_list_policies(customer)
        except PermissionDenied:
            raise PermissionDenied(
                "customer add is admin-only: it creates the customer's transit key and Vault policy"
            ) from None
        record_id = uuid.uuid4().hex
        data["id"] = record_id
        self._write_id(customer, record_id, "customer", customer)
        reach.create_search(self.vault, self.kv, customer)
        version = self.create(profile_path(customer), data, what)
        return {"customer": customer, "id": record_id, "version": version, "transit_key": key,
                "policy": policies.customer_policy_name(customer), "skipped": skipped}

    def sync_customer_list_policies(self, customer: str | None = None) -> list[str]:
        """Re-render the policies made from the list of customers
        (nv-auditor-no-reveal, nv-team-lead-customers). The list is the
        ``nv-customer-<slug>`` policies Vault holds (admin-written), never the
        KV listing (team leads write KV). Returns the policy names skipped
        because they are not slugs (``netvault setup --check`` reports them)."""
        listed = self.vault.list("sys/policies/acl")
        customers, bad = policies.customers_of_policies(listed)
        if customer is not None and customer not in customers:
            customers.append(customer)
        for name, text in policies.customer_list_policies(customers, mounts=self.mounts).items():
            self.vault.write(f"sys/policies/acl/{name}", {"policy": text})
        from netvault.lifecycle.service_end import sync_lifecycle_group

        sync_lifecycle_group(self.vault, customers)
        return [policies.customer_policy_name(b) for b in bad]

    def customer_names(self) -> list[str]:
        """Every customer this token may list; engineers: their granted customers."""
        try:
            return sorted(k.rstrip("/") for k in self.vault.list(f"{self.kv}/metadata/customers"))
        except PermissionDenied:
            return lookup.granted_customers(lookup.token_policies(self.vault))

    def list_customers(self) -> list[dict]:
        customers = self.customer_names()
        return [r for r in parallel(self.vault, customers, self.customer_row, threads=16) if r]

    def customer_row(self, client, c: str) -> dict | None:
        """One customer's line of `customer list` (None when not readable)."""
        try:
            got = kv_read(client, self.kv, profile_path(c))
        except PermissionDenied:
            return None
        if got is None:
            return None
        p = got[0]
        return {"customer": c, "company": p.get("company"), "city": p.get("city"),
                "contact": p.get("contact"), "phone": p.get("phone"), "email": p.get("email")}

    def show_customer(self, customer: str, version: int | None = None) -> dict:
        names.slug(customer, "customer")
        got = self.read(profile_path(customer), version)
        if got is None:
            raise NotFound(f"no customer {customer}" + (f" version {version}" if version else ""))
        data, meta = got
        out = {"customer": customer, **{f: data.get(f) for f in PROFILE_FIELDS}, "id": data.get("id"),
               "version": meta.get("version"), "created_time": meta.get("created_time")}
        if version is None:
            for kind in lookup.KINDS:
                try:
                    out[kind] = len(self.list_names(f"customers/{customer}/{kind}"))
                except PermissionDenied:
                    out[kind] = None
        return out

    def edit_customer(self, customer: str, changes: dict, if_version: int | None = None) -> dict:
        names.slug(customer, "customer")
        checked = _profile({k: v for k, v in changes.items() if v not in (None, "")})
        cleared = {k: "" for k, v in changes.items() if v == ""}
        if not checked and not cleared:
            raise UsageError("nothing to change; give at least one field option")
        new, version = self.update(profile_path(customer), f"customer {customer}",
                                   lambda d: _merge(d, {**checked, **cleared}), if_version)
        return {"customer": customer, "version": version}

    def rotate_key(self, customer: str) -> dict:
        """Rotate the customer's key and rewrap every sealed field: reveals nothing."""
        names.slug(customer, "customer")
        if self.read(profile_path(customer)) is None:
            raise NotFound(f"no customer {customer}")
        from netvault.lifecycle.service_end import in_force

        if in_force(self.vault, customer, self.mounts):
            raise Conflict(f"customer {customer} has ended: its key refuses every earlier ciphertext, nothing to rewrap")
        key = transit_key(customer)
        self.vault.write(f"{self.transit}/keys/{key}/rotate")
        info = self.vault.read(f"{self.transit}/keys/{key}") or {}
        latest = int((info.get("data") or {}).get("latest_version") or 0)
        paths = [record_path(customer, kind, n) for kind in lookup.SECRET_KINDS
                 for n in self.list_names(f"customers/{customer}/{kind}")]

        def one(client, path):
            for _ in range(INDEX_RETRIES):
                got = kv_read(client, self.kv, path)
                if got is None:
                    return 0
                data, meta = got
                sealed = data.get("secrets") or {}
                if not sealed:
                    return 0
                data["secrets"] = self.rewrap(customer, data["id"], sealed, vault=client)
                try:
                    self.put(path, data, int(meta.get("version") or 0), vault=client)
                    return len(sealed)
                except Conflict:
                    continue
            raise Conflict(f"a record in {customer} kept changing during rotate-key; run it again")

        counts = parallel(self.vault, paths, one, threads=8)
        return {"customer": customer, "transit_key": key, "key_version": latest,
                "records_rewrapped": sum(1 for c in counts if c), "fields_rewrapped": sum(counts)}

    def _require_customer(self, customer: str) -> None:
        names.slug(customer, "customer")

    # -- generic records ---------------------------------------------------
    def show(self, kind: str, customer: str, name: str, version: int | None = None) -> dict:
        kind = kind_dir(kind)
        names.slug(customer, "customer")
        names.slug(name, "record name")
        try:
            got = self.read(record_path(customer, kind, name), version)
        except PermissionDenied:
            raise lookup.unknown_customer(self.vault, self.kv, customer) or PermissionDenied(
                f"Vault refused to read {customer}/{name}") from None
        what = f"{KIND_WORDS[kind]} {customer}/{name}"
        if got is None:
            raise lookup.unknown_customer(self.vault, self.kv, customer) or NotFound(
                f"no {what}" + (f" version {version}" if version else ""))
        data, meta = got
        return self._public(kind, customer, name, data, meta)

    def _public(self, kind: str, customer: str, name: str, data: dict, meta: dict) -> dict:
        out = {"customer": customer, "name": name}
        for key, value in data.items():
            if key == "secrets":
                out["secret_fields"] = sorted((value or {}).keys())
                out["key_versions"] = sorted({str(ct).split(":")[1] for ct in (value or {}).values() if str(ct).count(":") >= 2})
            elif key == "fingerprints":
                continue
            else:
                out[key] = value
        out["version"] = meta.get("version")
        out["created_time"] = meta.get("created_time")
        return out

    def list(self, kind: str, customer: str, *, tags: list[str] | None = None,
             device_kind: str | None = None) -> list[dict]:
        """A customer's records of one kind; ``tags`` keeps those carrying every
        given tag, ``device_kind`` the devices of that kind (both validated)."""
        kind = kind_dir(kind)
        names.slug(customer, "customer")
        wanted = set(validate.tags(tags) or [])
        if device_kind is not None and device_kind not in DEVICE_KINDS:
            raise UsageError(f"invalid device kind {names.shown(device_kind)}; one of {', '.join(DEVICE_KINDS)}")
        try:
            record_names = self.list_names(f"customers/{customer}/{kind}")
        except PermissionDenied:
            raise lookup.unknown_customer(self.vault, self.kv, customer) or PermissionDenied(
                f"Vault refused to list the {kind} of {customer}") from None
        if not record_names:
            unknown = lookup.unknown_customer(self.vault, self.kv, customer)
            if unknown is not None:
                raise unknown

        def one(client, n):
            got = kv_read(client, self.kv, record_path(customer, kind, n))
            return None if got is None else self._public(kind, customer, n, got[0], got[1])

        rows = [r for r in parallel(self.vault, record_names, one) if r]
        if wanted:
            rows = [r for r in rows if wanted <= set(r.get("tags") or [])]
        if device_kind is not None:
            rows = [r for r in rows if r.get("kind") == device_kind]
        return rows

    def remove(self, kind: str, customer: str, name: str) -> dict:
        kind = kind_dir(kind)
        names.slug(customer, "customer")
        names.slug(name, "record name")
        path = record_path(customer, kind, name)
        what = f"{KIND_WORDS[kind]} {customer}/{name}"
        got = self.read(path)
        if got is None:
            raise NotFound(f"no {what}")
        self._delete_version(path, int(got[1].get("version") or 0), what)
        if kind == "devices":
            # settle, not a blind removal: the name may have been added again meanwhile
            self._settle_index(customer, name, self._index_keys(name, got[0]))
        elif kind == "credentials":
            self._settle_search(customer, kind, name)
        return {"customer": customer, "name": name, "kind": KIND_WORDS[kind], "deleted_version": got[1].get("version")}

    def undelete(self, kind: str, customer: str, name: str) -> dict:
        """Restore a removed record: KV v2 ``undelete`` of exactly the version
        that was deleted (the newest one, soft-deleted, not destroyed). A record
        added again under the name since, or never removed, is refused."""
        kind = kind_dir(kind)
        names.slug(customer, "customer")
        names.slug(name, "record name")
        path = record_path(customer, kind, name)
        what = f"{KIND_WORDS[kind]} {customer}/{name}"
        meta = self.meta(path)
        if not meta:
            raise NotFound(f"no {what}, removed or not")
        version = int(meta.get("current_version") or 0)
        newest = (meta.get("versions") or {}).get(str(version)) or {}
        if newest.get("destroyed"):
            raise Conflict(f"{what} version {version} was destroyed; it cannot be restored")
        if not newest.get("deletion_time"):
            raise Conflict(f"{what} is not removed (version {version} is live)")
        self.vault.write(f"{self.kv}/undelete/{path}", {"versions": [version]})
        if kind == "devices":
            self._settle_index(customer, name, set())  # its MACs/IPs come back into find
        elif kind == "credentials":
            self._settle_search(customer, kind, name)
        return {"customer": customer, "name": name, "kind": KIND_WORDS[kind], "restored_version": version}

    def _delete_version(self, path: str, version: int, what: str) -> None:
        """Soft-delete exactly the version the caller read: KV v2's plain delete
        takes whatever is newest, so a write that landed in between would be
        deleted unseen (and its find entries left behind)."""
        self.vault.write(f"{self.kv}/delete/{path}", {"versions": [version]})
        meta = self.meta(path) or {}
        if int(meta.get("current_version") or 0) != version:
            self.vault.write(f"{self.kv}/undelete/{path}", {"versions": [version]})
            raise Conflict(f"{what} changed meanwhile (now version {meta.get('current_version')}); "
                           "re-read and try again")

    def record_history(self, kind: str | None, customer: str, name: str | None) -> dict:
        names.slug(customer, "customer")
        if name is None:
            return {"customer": customer, "name": None, "kind": "customer",
                    **self.history(profile_path(customer), f"customer {customer}")}
        names.slug(name, "record name")
        kinds = [kind_dir(kind)] if kind else list(lookup.KINDS)
        found = []
        for k in kinds:
            meta = self.meta(record_path(customer, k, name))
            if meta:
                found.append(k)
        if not found:
            raise NotFound(f"no record {customer}/{name}")
        if len(found) > 1:
            raise UsageError(f"{customer}/{name} names a {' and a '.join(KIND_WORDS[k] for k in found)}; add --kind")
        k = found[0]
        return {"customer": customer, "name": name, "kind": KIND_WORDS[k],
                **self.history(record_path(customer, k, name), f"{KIND_WORDS[k]} {customer}/{name}")}

    def _new_record(self, kind: str, customer: str, name: str, fields: dict, secrets: dict[str, str]) -> tuple[str, dict]:
        """Check the customer exists, seal the secrets, write _ids; returns (id, data)."""
        if self.read(profile_path(customer)) is None:
            raise NotFound(f"no customer {customer}")
        path = record_path(customer, kind, name)
        what = f"{KIND_WORDS[kind]} {customer}/{name}"
        meta = self.meta(path)
        if meta:
            cur = (meta.get("versions") or {}).get(str(meta.get("current_version"))) or {}
            if not cur.get("deletion_time") and not cur.get("destroyed"):
                raise Conflict(f"{what} already exists")
        record_id = uuid.uuid4().hex
        data = {"id": record_id, **{k: v for k, v in fields.items() if v not in (None, "", [])}}
        if kind in lookup.SECRET_KINDS:
            data["secrets"] = self.seal(customer, record_id, secrets)
        self._write_id(customer, record_id, KIND_WORDS[kind], name)
        return record_id, data

    # -- credentials -------------------------------------------------------
    @staticmethod
    def _credential_fields(username=None, url=None, notes=None, tags=None) -> dict:
        return {
            "username": validate.text(username, "username") if username != "" else "",
            "url": validate.url_or_host(url),
            "notes": validate.notes(notes),
            "tags": validate.tags(tags),
        }

    @staticmethod
    def _secret_fields(secrets: dict[str, str]) -> dict[str, str]:
        out = {}
        for field, value in secrets.items():
            names.slug(field, "secret field name")
            if field == "totp":
                out[field] = validate.totp_seed(value)
            else:
                out[field] = validate.secret_value(value, f"secret field {field!r}")
        if len(out) > validate.MAX_LIST:
            raise UsageError(f"at most {validate.MAX_LIST} secret fields")
        return out

    def add_credential(self, customer: str, name: str, *, username=None, url=None, notes=None,
                       tags=None, secrets: dict[str, str]) -> dict:
        names.slug(customer, "customer")
        names.slug(name, "credential name")
        fields = self._credential_fields(username, url, notes, tags)
        sealed_input = self._secret_fields(secrets)
        if not sealed_input:
            raise UsageError("a credential needs at least one secret field")
        record_id, data = self._new_record("credentials", customer, name, fields, sealed_input)
        version = self.create(record_path(customer, "credentials", name), data, f"credential {customer}/{name}",
                              sealed=list(data["secrets"]))
        self._settle_search(customer, "credentials", name)
        return {"customer": customer, "name": name, "id": record_id, "version": version,
                "secret_fields": sorted(data["secrets"])}

    def edit_credential(self, customer: str, name: str, *, username=None, url=None, notes=None,
                        tags=None, if_version: int | None = None) -> dict:
        names.slug(customer, "customer")
        names.slug(name, "credential name")
        changes = self._credential_fields(username, url, notes, tags)
        if all(v is None for v in changes.values()):
            raise UsageError("nothing to change; give at least one field option")
        _, version = self.update(record_path(customer, "credentials", name), f"credential {customer}/{name}",
                                 lambda d: _merge(d, changes), if_version)
        self._settle_search(customer, "credentials", name)
        return {"customer": customer, "name": name, "version": version}

    def set_secrets(self, kind: str, customer: str, name: str, secrets: dict[str, str], *,
                    remove: list[str] | None = None, if_version: int | None = None) -> dict:
        """Replace (or add) sealed fields of a credential or licence: ``credential rotate``."""
        kind = kind_dir(kind)
        names.slug(customer, "customer")
        names.slug(name, "record name")
        sealed_input = self._secret_fields(secrets)
        for field in remove or []:
            names.slug(field, "secret field name")
        path = record_path(customer, kind, name)
        what = f"{KIND_WORDS[kind]} {customer}/{name}"
        data, version = self.current(path, what)
        if if_version is not None and int(if_version) != version:
            raise Conflict(f"{what} changed meanwhile (now version {version}); re-read and try again")
        sealed = dict(data.get("secrets") or {})
        for field in remove or []:
            if field not in sealed:
                raise NotFound(f"no secret field {field!r} on {what}")
            sealed.pop(field)
        sealed.update(self.seal(customer, data["id"], sealed_input))
        if kind == "credentials" and not sealed:
            raise UsageError("a credential needs at least one secret field")
        data["secrets"] = sealed
        # an import's fingerprint of a replaced value no longer describes it
        stale = set(sealed_input) | set(remove or [])
        if data.get("fingerprints"):
            data["fingerprints"] = {f: v for f, v in data["fingerprints"].items() if f not in stale}
        stamp_secrets(data, list(sealed_input), version + 1)
        new_version = self.put(path, data, version)
        return {"customer": customer, "name": name, "version": new_version,
                "changed_fields": sorted(sealed_input), "removed_fields": sorted(remove or []),
                "secret_fields": sorted(sealed)}

    # -- devices -----------------------------------------------------------
    def _device_fields(self, customer: str, *, kind=None, macs=None, ips=None, serial=None, model=None,
                       location=None, credential=None, notes=None, tags=None) -> dict:
        out = self.device_values(kind=kind, macs=macs, ips=ips, serial=serial, model=model, location=location,
                                 credential=credential, notes=notes, tags=tags)
        if credential not in (None, ""):
            if self.read(record_path(customer, "credentials", credential)) is None:
                raise NotFound(f"no credential {customer}/{credential} to link")
        return out

    @staticmethod
    def device_values(*, kind=None, macs=None, ips=None, serial=None, model=None, location=None,
                      credential=None, notes=None, tags=None) -> dict:
        """A device's fields, validated (no Vault access; the link is checked by the caller)."""
        from netvault.values.macs import canonical_ip, canonical_mac

        if kind not in (None, "") and kind not in DEVICE_KINDS:
            raise UsageError(f"invalid device kind {names.shown(kind)}; one of {', '.join(DEVICE_KINDS)}")
        out = {"kind": kind}
        if macs is not None:
            out["macs"] = list(dict.fromkeys(canonical_mac(m) for m in validate.bounded_list(macs, "MAC addresses")))
        if ips is not None:
            out["ips"] = list(dict.fromkeys(canonical_ip(i) for i in validate.bounded_list(ips, "IP addresses", 32)))
        out["serial"] = validate.text(serial, "serial", limit=100)
        out["model"] = validate.text(model, "model")
        out["location"] = validate.text(location, "location")
        out["notes"] = validate.notes(notes)
        out["tags"] = validate.tags(tags)
        if credential not in (None, ""):
            names.slug(credential, "credential name")
        out["credential"] = credential
        return out

    @staticmethod
    def _index_keys(name: str, data: dict) -> set[tuple[str, str]]:
        keys = {("mac", m) for m in data.get("macs") or []}
        keys |= {("ip", i) for i in data.get("ips") or []}
        keys.add(("name", name))
        return keys

    def _index_edit(self, path: str, list_key: str, entry, add: bool, vault=None) -> None:
        """Add/remove one entry of an index list, check-and-set, retried on conflict."""
        vault = vault or self.vault
        for _ in range(INDEX_RETRIES):
            got = kv_read(vault, self.kv, path)
            if got is None:
                meta = self.meta(path, vault)
                current, cas = [], int((meta or {}).get("current_version") or 0)
            else:
                current, cas = list(got[0].get(list_key) or []), int(got[1].get("version") or 0)
            if (entry in current) == add:
                return
            new = current + [entry] if add else [e for e in current if e != entry]
            if list_key == "entries":
                new.sort(key=lambda e: (e.get("customer", ""), e.get("device", "")))
            else:
                new.sort()
            try:
                self.put(path, {list_key: new}, cas, vault)
                return
            except Conflict:
                continue
        raise Conflict(f"the find index at {path} kept changing; try again")

    def _index_jobs(self, customer: str, name: str, keys: set[tuple[str, str]]) -> list[tuple[str, str, object]]:
        jobs = []
        for what, key in sorted(keys):
            if what != "name":
                jobs.append((customer_index_path(customer, what, key), "devices", name))
            jobs.append((global_index_path(what, key), "entries", {"customer": customer, "device": name}))
        return jobs

    def _index_add(self, customer: str, name: str, keys) -> None:
        jobs = self._index_jobs(customer, name, keys)
        parallel(self.vault, jobs, lambda client, j: self._index_edit(j[0], j[1], j[2], True, client))

    def _index_remove(self, customer: str, name: str, keys) -> None:
        jobs = self._index_jobs(customer, name, keys)
        parallel(self.vault, jobs, lambda client, j: self._index_edit(j[0], j[1], j[2], False, client))

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
            if touched - held:
                self._index_remove(customer, name, touched - held)
            if held:
                self._index_add(customer, name, held)
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
        entry = search.union_entry(self._search_entry("devices", old), self._search_entry("devices", (new, {"version": 0})))
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
        return sorted(k for k in vault.list(f"{self.kv}/metadata/{path}") if not k.endswith("/"))

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
        it (leads, admins), else from this customer's own index. Index entries
        are checked against the device record, so a stale one refuses nothing."""
        found: list[str] = []
        for mac in macs:
            holders: list[tuple[str, str]] = []
            try:
                got = kv_read(self.vault, self.kv, global_index_path("mac", mac))
                holders = [(e.get("customer", ""), e.get("device", "")) for e in (got[0].get("entries") or [])] if got else []
            except PermissionDenied:
                try:
                    got = kv_read(self.vault, self.kv, customer_index_path(customer, "mac", mac))
                except PermissionDenied:
                    got = None
                holders = [(customer, d) for d in (got[0].get("devices") or [])] if got else []
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

    def add_device(self, customer: str, name: str, *, kind: str, macs=(), ips=(), serial=None, model=None,
                   location=None, credential=None, notes=None, tags=None, force: bool = False) -> dict:
        names.slug(customer, "customer")
        names.slug(name, "device name")
        if not kind:
            raise UsageError(f"device kind required; one of {', '.join(DEVICE_KINDS)}")
        fields = self._device_fields(customer, kind=kind, macs=list(macs), ips=list(ips), serial=serial,
                                     model=model, location=location, credential=credential, notes=notes,
                                     tags=tags)
        self._refuse_shared_macs(customer, name, fields.get("macs") or [], force)
        record_id, data = self._new_record("devices", customer, name, fields, {})
        keys = self._index_keys(name, data)
        self._index_add(customer, name, keys)
        self._search_ahead(customer, name, None, data)
        try:
            version = self.create(record_path(customer, "devices", name), data, f"device {customer}/{name}")
        except Conflict:
            self._settle_index(customer, name, keys)  # take back what this failed add put in
            raise
        self._settle_index(customer, name, set())
        return {"customer": customer, "name": name, "id": record_id, "version": version,
                "macs": data.get("macs", []), "ips": data.get("ips", [])}

    def edit_device(self, customer: str, name: str, *, if_version: int | None = None, force: bool = False,
                    **changes) -> dict:
        names.slug(customer, "customer")
        names.slug(name, "device name")
        fields = self._device_fields(customer, **changes)
        if all(v is None for v in fields.values()):
            raise UsageError("nothing to change; give at least one field option")
        self._refuse_shared_macs(customer, name, fields.get("macs") or [], force)
        path = record_path(customer, "devices", name)
        what = f"device {customer}/{name}"
        data, version = self.current(path, what)
        if if_version is not None and int(if_version) != version:
            raise Conflict(f"{what} changed meanwhile (now version {version}, you expected {if_version}); re-read and try again")
        new = _merge(data, fields)
        old_keys, new_keys = self._index_keys(name, data), self._index_keys(name, new)
        self._index_add(customer, name, new_keys - old_keys)
        self._search_ahead(customer, name, (data, {"version": version}), new)
        try:
            new_version = self.put(path, new, version)
        except Conflict:
            self._settle_index(customer, name, new_keys - old_keys)
            raise
        self._settle_index(customer, name, old_keys - new_keys)
        return {"customer": customer, "name": name, "version": new_version,
                "macs": new.get("macs", []), "ips": new.get("ips", [])}

    # -- licences ----------------------------------------------------------
    @staticmethod
    def _licence_fields(product=None, vendor=None, seats=None, expires=None, notes=None) -> dict:
        return {
            "product": validate.text(product, "product"), "vendor": validate.text(vendor, "vendor"),
            "seats": validate.seats(seats), "expires": validate.iso_date(expires, "expiry date"),
            "notes": validate.notes(notes),
        }

    def add_licence(self, customer: str, name: str, *, product: str, vendor=None, seats=None, expires=None,
                    notes=None, licence_key: str | None = None) -> dict:
        names.slug(customer, "customer")
        names.slug(name, "licence name")
        if not product:
            raise UsageError("licence product required (--product)")
        fields = self._licence_fields(product, vendor, seats, expires, notes)
        secrets = {"licence_key": validate.secret_value(licence_key, "licence key")} if licence_key else {}
        record_id, data = self._new_record("licences", customer, name, fields, secrets)
        version = self.create(record_path(customer, "licences", name), data, f"licence {customer}/{name}",
                              sealed=list(data.get("secrets") or {}))
        return {"customer": customer, "name": name, "id": record_id, "version": version,
                "secret_fields": sorted(data.get("secrets") or {})}

    def edit_licence(self, customer: str, name: str, *, if_version: int | None = None, **changes) -> dict:
        names.slug(customer, "customer")
        names.slug(name, "licence name")
        fields = self._licence_fields(**changes)
        if all(v is None for v in fields.values()):
            raise UsageError("nothing to change; give at least one field option")
        _, version = self.update(record_path(customer, "licences", name), f"licence {customer}/{name}",
                                 lambda d: _merge(d, fields), if_version)
        return {"customer": customer, "name": name, "version": version}

    def list_licences(self, customer: str | None, *, expiring: timedelta | None, today: date) -> list[dict]:
        """Licences of one customer, or of every visible customer; optionally only
        those expiring within ``expiring`` from ``today`` (expired ones included)."""
        customers = [names.slug(customer, "customer")] if customer else self.customer_names()

        def per_customer(client, c):
            try:
                listed = sorted(k for k in client.list(f"{self.kv}/metadata/customers/{c}/licences") if not k.endswith("/"))
            except PermissionDenied:
                return []
            rows = []
            for n in listed:
                got = kv_read(client, self.kv, record_path(c, "licences", n))
                if got is not None:
                    rows.append(self._public("licences", c, n, got[0], got[1]))
            return rows

        rows = [r for chunk in parallel(self.vault, customers, per_customer, threads=16) for r in chunk]
        out = []
        for r in rows:
            exp = r.get("expires")
            r["days_left"] = (date.fromisoformat(exp) - today).days if exp else None
            if expiring is not None and (r["days_left"] is None or r["days_left"] > expiring.days):
                continue
            out.append(r)
        out.sort(key=lambda r: (r["days_left"] if r["days_left"] is not None else 10**9, r["customer"], r["name"]))
        return out

    # -- bulk writes (import) ----------------------------------------------
    def existing_names(self, customer: str, kind: str, vault=None) -> set[str]:
        """Names under customers/<c>/<kind>/ (live or soft-deleted): one LIST."""
        kind = kind_dir(kind)
        listed = (vault or self.vault).list(f"{self.kv}/metadata/customers/{customer}/{kind}")
        return {k for k in listed if not k.endswith("/")}

    def _index_put(self, path: str, list_key: str, entry, vault, fresh: bool) -> None:
        """Add one index entry; ``fresh``: try a create (cas=0) first, which is
        one request when the key is new, and fall back to read-modify-write."""
        if fresh:
            try:
                self.put(path, {list_key: [entry]}, 0, vault)
                return
            except Conflict:
                pass
        self._index_edit(path, list_key, entry, True, vault)

    def _collect(self, collect: dict | None, kind: str, name: str, data: dict, version: int) -> None:
        if collect is not None and kind in ("devices", "credentials"):
            collect[(kind, name)] = self._search_entry(kind, (data, {"version": version}))

    def write_record(self, kind: str, customer: str, name: str, fields: dict, secrets: dict[str, str], *,
                     vault=None, known_new: bool = False, dry_run: bool = False,
                     collect: dict | None = None) -> tuple[str, str]:
        """Bring one record to the given state, for imports: ``created``,
        ``unchanged`` or ``updated`` (with the names of the changed fields).

        ``fields``: validated non-secret fields (``device_values`` /
        ``_credential_fields`` / ``_licence_fields`` output); a key with ``""``
        or ``[]`` clears that field, a key that is absent keeps it. ``secrets``:
        validated plaintexts (``_secret_fields``); fields not given keep their
        sealed value, and so does a sealed field set outside an import (no
        fingerprint: ``add``, ``credential rotate``). Nothing is decrypted: a secret counts as unchanged when
        its keyed fingerprint (``fingerprints``) matches the one stored at the
        previous import. Same write order and check-and-set as ``add_*`` /
        ``edit_*``, on ``vault`` (one client per thread). ``known_new``: the
        caller listed the names and this one is not there (skips two reads;
        a concurrent create still ends in the check-and-set and a retry).
        ``customer`` must exist (the caller checks, once per customer).
        ``collect``: gets ``(kind, name) -> search entry`` of the record as
        written (or found unchanged); the caller writes the customer's search
        document once per batch (``reach.edit_search(only_newer=True)``)
        instead of once per record."""
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
                if kind == "devices":
                    for job in self._index_jobs(customer, name, self._index_keys(name, data)):
                        self._index_put(*job, vault, fresh=True)
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
                for job in self._index_jobs(customer, name, new_keys - old_keys):
                    self._index_put(*job, vault, fresh=False)
            try:
                written = self.put(path, new, version, vault)
            except Conflict:
                continue
            self._collect(collect, kind, name, new, written)
            for job in self._index_jobs(customer, name, old_keys - new_keys):
                self._index_edit(*job, False, vault)
            return "updated", reason
        raise Conflict(f"{what} kept changing during the import; run it again")
