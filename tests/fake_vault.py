"""An in-memory stand-in for ``netvault.vault.client.Vault``: KV v2 only.

For unit tests of the KV logic that needs no server (check-and-set writes,
index maintenance, retry loops): a test runs in milliseconds and can stop a
writer at any request (``before``) to force an interleaving.

It answers the same HTTP paths a KV v2 mount answers (``<mount>/data/...``,
``metadata``, ``delete``, ``undelete``, ``destroy``) with the same bodies, and
fails the way the real gateway fails: an error status and Vault's own error
text go through ``map_http_error``, so a check-and-set mismatch is the same
``Conflict`` and a missing key the same ``NotFound``. The rules follow
OpenBao's KV v2 engine: versions count up from 1; a write carries
``options.cas`` (the mount is ``cas_required``, as ``netvault setup`` makes
it) and succeeds only when it equals ``current_version`` (0: the key has no
metadata yet); a soft-deleted or destroyed version reads as absent; the
newest ``max_versions`` are kept (the mount's: 100, as ``netvault setup``
makes it). Per-key metadata writes are not modelled (netvault makes none). ``tests/test_fake_vault.py`` runs the same
calls on this and on a real OpenBao and compares the answers.

Beyond KV it answers only ``auth/token/lookup-self`` (the token's policies:
``["root"]`` unless given). Anything else (transit, sys/, identity/) raises ``NotImplementedError``: a
unit test that strays off KV fails loudly instead of passing on a guess.
"""

from __future__ import annotations

import copy
import threading
from datetime import datetime, timedelta, timezone

from netvault.vault.client import map_http_error
from netvault.server.setup import DEFAULT_HISTORY

_CAS_REQUIRED = "check-and-set parameter required for this call"
_CAS_MISMATCH = "check-and-set parameter did not match the current version"


class _Store:
    """What all clones of one fake share: the mounts' keys, a lock, a clock."""

    def __init__(self, mounts, max_versions: int, cas_required: bool) -> None:
        self.lock = threading.RLock()
        self.mounts = {m: {} for m in mounts}  # mount -> path -> key state
        self.max_versions = max_versions
        self.cas_required = cas_required
        self.calls: list[tuple[str, str]] = []
        self.conflicts = 0  # check-and-set mismatches answered
        self._now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def now(self) -> str:
        # strictly increasing, so created_time orders versions as on a real server
        self._now += timedelta(microseconds=1)
        return self._now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeVault:
    """``read`` / ``write`` / ``list`` / ``delete`` / ``request`` / ``clone`` of
    ``gateway.Vault`` on in-memory KV v2 mounts (default: ``netvault``).

    ``before(method, path)``, when set, is called before every request (on
    every clone): a test can pause a writer there, or count requests.
    ``calls``: every (method, path) answered, in order; ``conflicts``: how
    many check-and-set writes were refused."""

    def __init__(self, mounts=("netvault",), *, max_versions: int = DEFAULT_HISTORY, cas_required: bool = True,
                 token: str = "fake-token", policies=("root",), _store: _Store | None = None) -> None:
        self._store = _store or _Store(mounts, max_versions, cas_required)
        self.policies = list(policies)
        self.address = "http://fake-vault"
        self.token = token
        self.namespace = None
        self.before = None

    @property
    def calls(self) -> list[tuple[str, str]]:
        return self._store.calls

    @property
    def conflicts(self) -> int:
        """How many check-and-set writes (of every clone) were refused."""
        return self._store.conflicts

    def writes(self, path_part: str = "") -> int:
        """How many POSTs (of every clone) went to a path containing ``path_part``."""
        return sum(1 for m, p in self.calls if m in ("POST", "PUT") and path_part in p)

    def clone(self) -> "FakeVault":
        twin = FakeVault(token=self.token, policies=self.policies, _store=self._store)
        twin.before = self.before
        return twin

    def close(self) -> None:
        pass

    # -- the gateway's verbs, exactly as gateway.Vault builds them on request()
    def read(self, path: str) -> dict | None:
        from netvault.errors import NotFound

        try:
            return self.request("GET", path)
        except NotFound:
            return None

    def write(self, path: str, data: dict | None = None, *, wrap_ttl: str | None = None,
              idempotent: bool = False) -> dict | None:
        if wrap_ttl:
            raise NotImplementedError("fake vault: response wrapping")
        return self.request("POST", path, data or {}, idempotent=idempotent)

    def list(self, path: str) -> list[str]:
        from netvault.errors import NotFound

        try:
            resp = self.request("LIST", path)
        except NotFound:
            return []
        return list(((resp or {}).get("data") or {}).get("keys") or [])

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def request(self, method: str, path: str, data=None, *, headers=None, idempotent: bool = False):
        method = method.upper()
        if self.before is not None:
            self.before(method, path)
        path, _, query = path.partition("?")
        path = path.strip("/")
        if method == "GET" and path == "auth/token/lookup-self":
            # what netvault asks of its own token: the policies (a root token by default)
            return {"data": {"policies": list(self.policies), "id": self.token}}
        mount, _, rest = path.partition("/")
        area, _, key = rest.partition("/")
        store = self._store
        if mount not in store.mounts or area not in ("data", "metadata", "delete", "undelete", "destroy"):
            raise NotImplementedError(f"fake vault: {method} {path} (KV v2 only)")
        # a JSON round trip, as over HTTP: no object is shared with the caller
        body = copy.deepcopy(data) if data is not None else None
        with store.lock:
            store.calls.append((method, path))
            status, answer, errors = self._kv(store.mounts[mount], method, area, key, body, query)
        if status >= 400:
            raise map_http_error(status, errors, path)
        return copy.deepcopy(answer)

    # -- KV v2 -----------------------------------------------------------
    def _kv(self, keys: dict, method: str, area: str, key: str, body, query: str):
        store = self._store
        entry = keys.get(key)
        if area == "data" and method == "GET":
            version = 0
            for part in query.split("&"):
                name, _, value = part.partition("=")
                if name == "version" and value:
                    version = int(value)
            if entry is None:
                return 404, None, []
            version = version or entry["current_version"]
            v = entry["versions"].get(version)
            if v is None:
                return 404, None, []
            meta = _version_meta(v, version)
            if v["deletion_time"] or v["destroyed"]:
                return 404, {"data": {"data": None, "metadata": meta}}, []
            return 200, {"data": {"data": v["data"], "metadata": meta}}, []
        if area == "data" and method in ("POST", "PUT"):
            if not isinstance(body, dict) or body.get("data") is None:
                return 400, None, ["no data provided"]
            cas = (body.get("options") or {}).get("cas")
            current = entry["current_version"] if entry else 0
            if cas is None and (store.cas_required or (entry and entry["cas_required"])):
                return 400, None, [_CAS_REQUIRED]
            if cas is not None and int(cas) != current:
                store.conflicts += 1
                return 400, None, [_CAS_MISMATCH]
            now = store.now()
            if entry is None:
                entry = keys[key] = {"created_time": now, "current_version": 0, "oldest_version": 0,
                                     "versions": {}, "cas_required": False, "max_versions": 0}
            number = entry["current_version"] + 1
            entry["current_version"] = number
            entry["updated_time"] = now
            entry["versions"][number] = {"data": body["data"], "created_time": now, "deletion_time": "",
                                         "destroyed": False}
            keep = entry["max_versions"] or store.max_versions
            if len(entry["versions"]) > keep:
                while len(entry["versions"]) > keep:
                    del entry["versions"][min(entry["versions"])]
                entry["oldest_version"] = min(entry["versions"])
            return 200, {"data": _version_meta(entry["versions"][number], number)}, []
        if area == "data" and method == "DELETE":
            if entry is not None:
                v = entry["versions"].get(entry["current_version"])
                if v is not None and not v["deletion_time"] and not v["destroyed"]:
                    v["deletion_time"] = store.now()
            return 204, None, []
        if area in ("delete", "undelete", "destroy") and method in ("POST", "PUT"):
            versions = (body or {}).get("versions")
            if not versions:
                return 400, None, ["no version number provided"]
            for number in versions:
                v = (entry or {"versions": {}})["versions"].get(int(number))
                if v is None or v["destroyed"]:
                    continue
                if area == "delete" and not v["deletion_time"]:
                    v["deletion_time"] = store.now()
                elif area == "undelete":
                    v["deletion_time"] = ""
                elif area == "destroy":
                    v["destroyed"] = True
            return 204, None, []
        if area == "metadata" and method == "GET":
            if entry is None:
                return 404, None, []
            return 200, {"data": {
                "cas_required": entry["cas_required"], "created_time": entry["created_time"],
                "current_metadata_version": 0,  # OpenBao's own
                "metadata_cas_required": False,
                "current_version": entry["current_version"], "custom_metadata": None,
                "delete_version_after": "0s", "max_versions": entry["max_versions"],
                "oldest_version": entry["oldest_version"], "updated_time": entry.get("updated_time", entry["created_time"]),
                "versions": {str(n): {"created_time": v["created_time"], "deletion_time": v["deletion_time"],
                                      "destroyed": v["destroyed"]} for n, v in entry["versions"].items()},
            }}, []
        if area == "metadata" and method == "LIST":
            prefix = f"{key}/" if key else ""
            found = set()
            for k in keys:
                if k.startswith(prefix):
                    head, slash, _ = k[len(prefix):].partition("/")
                    found.add(head + slash)
            if not found:
                return 404, None, []
            return 200, {"data": {"keys": sorted(found)}}, []
        if area == "metadata" and method == "DELETE":
            keys.pop(key, None)
            return 204, None, []
        raise NotImplementedError(f"fake vault: {method} {area}/ (KV v2 subset)")


def _version_meta(v: dict, number: int) -> dict:
    return {"created_time": v["created_time"], "custom_metadata": None, "deletion_time": v["deletion_time"],
            "destroyed": v["destroyed"], "version": number}
