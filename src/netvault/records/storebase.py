"""The base of ``records.Store``: KV primitives with check-and-set, and
transit sealing (encrypt, rewrap, keyed fingerprints). No printing, no typer.

``Store`` (``records/store.py``) is assembled from this and one module per
job: ``customers`` (customer add/edit/rotate-key), ``upkeep`` (find's global
index and search documents, kept by every device and credential writer),
``bulk`` (imports), and the record commands in ``store`` itself.
"""

from __future__ import annotations

import base64

from netvault.errors import Conflict, NetvaultError, NotFound, UsageError
from netvault.vault.mounts import Mounts
from netvault.records import lookup
from netvault.records.lookup import ids_path, transit_key
from netvault.values import names
from netvault.vault.kv import SETTINGS_PATH, kv_delete_latest, kv_metadata, kv_names, kv_read, kv_write  # noqa: F401 (SETTINGS_PATH re-exported for store)

PROFILE_FIELDS = ("company", "address", "postcode", "city", "contact", "phone", "email", "kvk", "vat", "bank", "notes",
                  "retention")
DEVICE_KINDS = ("modem", "router", "firewall", "switch", "access-point", "server", "nas", "printer", "other")
KIND_WORDS = {"credentials": "credential", "devices": "device", "licences": "licence", "customer": "customer"}
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


class StoreBase:
    """KV primitives and sealing, through one ``gateway.Vault``."""

    def __init__(self, vault, mounts: Mounts | None = None) -> None:
        self.vault = vault
        self.mounts = mounts or Mounts()
        self.kv = self.mounts.kv
        self.transit = self.mounts.transit

    # -- KV primitives ---------------------------------------------------
    def read(self, path: str, version: int | None = None):
        return kv_read(self.vault, self.kv, path, version)

    def meta(self, path: str, vault=None) -> dict | None:
        return kv_metadata(vault or self.vault, self.kv, path)

    def put(self, path: str, data: dict, cas: int, vault=None) -> int:
        return kv_write(vault or self.vault, self.kv, path, data, cas=cas)

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
        kv_delete_latest(self.vault, self.kv, path)

    def list_names(self, path: str) -> list[str]:
        return kv_names(self.vault, self.kv, path)

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
                digits = fp.split(":")[1][1:]
                if digits.isdigit():
                    by_version.setdefault(int(digits), {})[field] = value
        same = set()
        for version, values in by_version.items():
            try:
                fresh = self.fingerprints(customer, record["id"], values, vault, key_version=version)
            except UsageError:  # e.g. that key version was trimmed: cannot tell, so not "same"
                continue
            same |= {f for f, fp in fresh.items() if fp == stored.get(f)}
        return same
