"""The one place netvault talks to Vault / OpenBao.

``Vault`` is a small keep-alive HTTP/JSON client on the standard library: the
engineer's hot path (``reveal``, ``find``) must not pay ~110 ms to import
requests+hvac. ``admin_client`` hands out an hvac client for the set-up plane
(init, mounts, auth methods), where typed helpers matter more than start-up.

Both translate failures into ``netvault.errors`` types with one-line,
secret-free messages: a request body is never part of an error.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from typing import Any
from urllib.parse import quote, urlsplit

from netvault.errors import (
    Conflict,
    NetvaultError,
    NotFound,
    NotLoggedIn,
    PermissionDenied,
    Sealed,
    Unreachable,
    UsageError,
)

# Retried: a raft standby during election, or a fresh kv-v2 mount upgrading.
_TRANSIENT_MARKERS = (
    "local node not active",
    "Waiting for the primary to upgrade",
    "upgrading from non-versioned to versioned",
)


# Requests that may be sent again after a connection broke mid-request:
# reads, and POSTs that only look something up (Vault API paths, whatever the
# mounts are called). Anything else may already have been carried out: an
# unwrap, a check-and-set write or a decrypt (a reveal in the trail) is never
# sent twice. Callers mark other repeatable POSTs (transit encrypt, sign)
# with ``idempotent=True``.
_SAFE_METHODS = frozenset({"GET", "HEAD", "LIST", "OPTIONS"})
_LOOKUP_POSTS = frozenset({
    "sys/wrapping/lookup", "sys/capabilities-self", "sys/capabilities", "sys/capabilities-accessor",
    "auth/token/lookup", "auth/token/lookup-self", "auth/token/lookup-accessor",
    "identity/lookup/entity", "identity/lookup/group",
})
_LOOKUP_PREFIXES = ("sys/audit-hash/",)


def repeatable(method: str, path: str, idempotent: bool = False) -> bool:
    """May this request be sent again when its answer was lost?"""
    method = method.upper()
    if idempotent or method in _SAFE_METHODS:
        return True
    p = path.partition("?")[0].strip("/")
    return method in ("POST", "PUT") and (p in _LOOKUP_POSTS or p.startswith(_LOOKUP_PREFIXES))


def _dropped(sock) -> bool:
    """True when the peer closed this idle keep-alive connection (readable at EOF)."""
    import select

    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


class VaultHTTPError(NetvaultError):
    """An HTTP error from Vault, before mapping. Carries status and Vault's errors."""

    def __init__(self, status: int, errors: list[str], path: str) -> None:
        self.status = status
        self.errors = errors
        self.path = path
        super().__init__(f"{status} on {path}: {'; '.join(errors) or 'no detail'}")


def _one_line(errors: list[str]) -> str:
    text = "; ".join(e.strip() for e in errors if e and e.strip())
    text = " ".join(text.replace("* ", "").split())
    return text[:300] or "no detail"


def map_http_error(status: int, errors: list[str], path: str, *, token_valid=None) -> NetvaultError:
    """Turn a Vault error response into a netvault error (pure; unit-tested)."""
    detail = _one_line(errors)
    low = detail.lower()
    if status == 503 and "sealed" in low:
        return Sealed("Vault is sealed; unseal it (embedded server: `netvault server up`)")
    if status == 501 or "not initialized" in low or "not yet initialized" in low:
        return Sealed("Vault is not initialised; run `netvault server up` or `bao operator init`")
    if status == 403:
        if token_valid is False:
            return NotLoggedIn("token expired or revoked (or its login disabled); run `netvault login`")
        return PermissionDenied(f"permission denied by Vault on {path}")
    if status == 404:
        return NotFound(f"not found: {path}")
    if "check-and-set" in low or "cas" in low.split():
        return Conflict(f"changed by someone else meanwhile ({path}); re-read and try again")
    if status == 400 and ("already exists" in low or "already in use" in low):
        return Conflict(f"already exists ({path}): {detail}")
    if status == 400:
        return UsageError(f"Vault rejected the request on {path}: {detail}")
    if status in (500, 502, 503, 504):
        return Unreachable(f"Vault error {status} on {path}: {detail}")
    return NetvaultError(f"Vault error {status} on {path}: {detail}")


# -- several addresses (a cluster) -------------------------------------------
#: Answers of a node that did not carry the request out (so any request may go
#: to another node): a standby or sealed node, or a cluster in election.
_NOT_SERVING_MARKERS = (
    "local node not active",
    "active cluster node not found",
    "vault is sealed",
    "standby",
)


def split_addresses(address: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"https://a:8200, https://b:8200"`` (or a list) -> validated addresses."""
    items = address.split(",") if isinstance(address, str) else list(address)
    out = []
    for item in items:
        item = item.strip().rstrip("/")
        if not item:
            continue
        parts = urlsplit(item)
        try:
            parts.port
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"invalid Vault address {item!r}; expected http(s)://host:port")
        if item not in out:
            out.append(item)
    if not out:
        raise UsageError("no Vault address given; expected http(s)://host:port")
    return out


def failover_safe(method: str, path: str, idempotent: bool = False) -> bool:
    """May a request whose answer was lost go again to another node (several
    addresses)? What ``repeatable`` allows, and reveals (transit decrypt), as
    issue 13 asks: the retry is audited like the first attempt, whose answer
    nobody saw. A kv-v2 check-and-set write is resolved separately
    (``Vault._exchange``)."""
    if repeatable(method, path, idempotent):
        return True
    p = path.partition("?")[0].strip("/").split("/")
    return method.upper() == "POST" and len(p) == 3 and p[1] == "decrypt"


def _cas_of(method: str, path: str, body: bytes | None) -> int | None:
    """The check-and-set version of a kv-v2 data write, else None."""
    if method != "POST" or "/data/" not in path or not body:
        return None
    try:
        cas = (json.loads(body).get("options") or {}).get("cas")
    except (ValueError, AttributeError):
        return None
    return cas if isinstance(cas, int) and not isinstance(cas, bool) else None


def _errors_of(raw: bytes) -> list[str]:
    try:
        return [str(e) for e in (json.loads(raw).get("errors") or [])]
    except (ValueError, AttributeError):
        return [raw[:200].decode("utf-8", "replace")]


def _verbose_sink():
    """Where "answered by" notes go: stderr when NETVAULT_VERBOSE is set."""
    import os
    import sys

    if os.environ.get("NETVAULT_VERBOSE", "") in ("", "0"):
        return None
    return lambda text: sys.stderr.write(text + "\n")


class Vault:
    """Minimal Vault API client: read/write/list/delete with one keep-alive connection."""

    def __init__(
        self,
        address: str,
        token: str | None = None,
        *,
        namespace: str | None = None,
        cacert: str | None = None,
        timeout: float = 10.0,
        retries: int = 4,
        failover_seconds: float = 30.0,
    ) -> None:
        self._nodes = split_addresses(address)
        #: the configured address(es), comma-separated: what tokens are stored under
        self.address = ",".join(self._nodes)
        self.token = token
        self.namespace = namespace
        self._cacert = cacert
        self._timeout = timeout
        self._retries = retries
        self._conn = None
        self._failover_seconds = failover_seconds
        self._current = 0
        self._answered_by: str | None = None
        self._picked = False
        self._use_node(0)

    # -- plumbing ---------------------------------------------------------
    def clone(self) -> "Vault":
        """A client with its own connection (one per thread)."""
        return Vault(
            self.address, self.token, namespace=self.namespace, cacert=self._cacert,
            timeout=self._timeout, retries=self._retries, failover_seconds=self._failover_seconds,
        )

    def _connect(self):
        import http.client

        if self._scheme == "https":
            try:
                ctx = ssl.create_default_context(cafile=self._cacert)
            except (OSError, ssl.SSLError) as exc:
                raise UsageError(f"cannot use CA certificate {self._cacert!r} (VAULT_CACERT): {getattr(exc, 'strerror', None) or exc}") from None
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout, context=ctx)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _headers(self, extra: dict | None) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["X-Vault-Token"] = self.token
        if self.namespace:
            headers["X-Vault-Namespace"] = self.namespace
        headers["X-Vault-Request"] = "true"
        if extra:
            headers.update(extra)
        return headers

    # -- address failover ---------------------------------------------------
    # Around ``_send`` (one request on one connection): pick a node, and on a
    # node that is down, standby, sealed or electing, go to the next with
    # backoff, bounded by ``failover_seconds``. A request whose answer was lost
    # goes again only when ``failover_safe`` (or it is a kv-v2 check-and-set
    # write: then a "version mismatch" answer to the retry is checked against
    # what is stored). With one address nothing here changes ``_send``.
    @property
    def node(self) -> str:
        """The address currently used."""
        return self._nodes[self._current]

    def _use_node(self, index: int) -> None:
        self.close()
        self._current = index % len(self._nodes)
        parts = urlsplit(self._nodes[self._current])
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)

    def _open(self) -> None:
        """Connect before sending: a connect that fails proves nothing was sent."""
        if self._conn is None:
            self._conn = self._connect()
        if self._conn.sock is None:
            try:
                self._conn.connect()
            except (ConnectionError, socket.timeout, OSError) as exc:
                self.close()
                reason = getattr(exc, "strerror", None) or type(exc).__name__
                raise Unreachable(f"cannot reach Vault at {self.node}: {reason}") from None

    def _answered(self) -> None:
        if self._answered_by != self.node:
            self._answered_by = self.node
            sink = _verbose_sink()
            if sink:
                sink(f"netvault: answered by {self.node}")

    @staticmethod
    def _not_serving(status: int, raw: bytes) -> bool:
        if status == 307:
            return True
        if status not in (429, 500, 502, 503):
            return False
        text = raw[:500].decode("utf-8", "replace").lower()
        return any(m in text for m in _NOT_SERVING_MARKERS)

    def _exchange(self, method: str, path: str, body: bytes | None, headers: dict, *,
                  idempotent: bool = False) -> tuple[int, bytes]:
        if len(self._nodes) == 1:
            return self._send(method, path, body, headers, idempotent=idempotent)
        safe = failover_safe(method, path, idempotent)
        cas = None if safe else _cas_of(method, path, body)
        deadline = time.monotonic() + self._failover_seconds
        lost = False
        if not self._picked:
            self._pick(deadline)
        while True:
            try:
                self._open()
            except Unreachable as exc:
                failure: Exception = exc  # nothing sent: any request may go elsewhere
            else:
                try:
                    status, raw = self._send(method, path, body, headers, idempotent=idempotent)
                except Unreachable as exc:
                    if not (safe or cas is not None):
                        raise
                    failure, lost = exc, True
                else:
                    if not self._not_serving(status, raw):
                        if lost and cas is not None and status == 400:
                            status, raw = self._resolve_cas(path, body, cas, status, raw)
                        self._answered()
                        return status, raw
                    failure = Unreachable(f"Vault at {self.node} is not serving (HTTP {status})")
            if time.monotonic() > deadline:
                raise failure
            self._pick(deadline, after=failure)

    def _pick(self, deadline: float, after: Exception | None = None) -> None:
        """Go to the active node, waiting (with backoff) while the cluster
        elects one. Standbys would forward, but OpenBao's standbys answer
        reads (and check-and-set checks) from their own copy, which can lag
        the active node's: after a failover that means stale answers."""
        delay = 0.05
        first = self._current
        n = len(self._nodes)
        while True:
            states = []
            for k in range(n):
                i = (first + k) % n
                self._use_node(i)
                try:
                    self._open()
                    status, _ = self._send("GET", "sys/health", None, self._headers(None))
                except Unreachable:
                    status = None
                if status == 200:  # initialised, unsealed and active
                    self._picked = True
                    return
                states.append((i, status))
            answering = [i for i, st in states if st is not None]
            electing = any(st in (429, 472, 473) for _, st in states)  # standbys without an active node
            if (answering and not electing) or time.monotonic() > deadline:
                if not answering:
                    raise after or Unreachable(f"cannot reach Vault at any of {self.address}")
                # sealed or uninitialised everywhere: the request's answer says so
                self._use_node(answering[0])
                self._picked = True
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _resolve_cas(self, path: str, body: bytes, cas: int, status: int, raw: bytes) -> tuple[int, bytes]:
        """A check-and-set write was sent again after its answer was lost and
        the retry met "version mismatch": the first one may have been carried
        out. If the stored version is cas+1 with exactly our data, it was."""
        if "check-and-set" not in raw.decode("utf-8", "replace"):
            return status, raw
        try:
            got_status, got = self._exchange("GET", path, None, self._headers(None))  # fails over too
            if got_status != 200:
                return status, raw
            stored = json.loads(got).get("data") or {}
            meta = stored.get("metadata") or {}
            if meta.get("version") == cas + 1 and stored.get("data") == json.loads(body).get("data"):
                return 200, json.dumps({"data": meta}).encode()
        except (Unreachable, ValueError, AttributeError):
            pass
        return status, raw

    def _send(self, method: str, path: str, body: bytes | None, headers: dict, *, idempotent: bool = False) -> tuple[int, bytes]:
        """Send one request. A request whose answer was lost is sent again only
        when that is safe: it never left (connect or send failed), or it is
        ``repeatable`` (reads, look-ups, what the caller marks idempotent)."""
        path, _, query = path.partition("?")
        url = "/v1/" + quote(path.lstrip("/"), safe="/:@-._~") + (f"?{query}" if query else "")
        again = repeatable(method, path, idempotent)
        last_exc: Exception | None = None
        for attempt in range(2):  # one silent reconnect for a dropped keep-alive
            if self._conn is not None and self._conn.sock is not None and not again and _dropped(self._conn.sock):
                self.close()  # the server closed the idle connection: start a new one before sending
            if self._conn is None:
                self._conn = self._connect()
            try:
                if self._conn.sock is None:
                    self._conn.connect()  # nothing sent yet: safe to try again
                self._conn.request(method, url, body=body, headers=headers)
            except (ConnectionError, socket.timeout, OSError) as exc:
                # Connect failed, or the request did not fully leave (one send of
                # headers and body raised): Vault cannot have acted on it.
                last_exc = exc
                self.close()
                if isinstance(exc, (ConnectionRefusedError, socket.timeout, ssl.SSLError)):
                    break
                continue
            try:
                resp = self._conn.getresponse()
                return resp.status, resp.read()
            except (ConnectionError, socket.timeout, OSError) as exc:
                last_exc = exc
                self.close()
                if not again:
                    raise Unreachable(
                        f"the connection to Vault at {self.address} broke after {method} {path} was sent; "
                        "Vault may have carried it out, so it was not repeated: check before trying again"
                    ) from None
                if isinstance(exc, (ConnectionRefusedError, socket.timeout, ssl.SSLError)):
                    break
        reason = getattr(last_exc, "strerror", None) or type(last_exc).__name__
        raise Unreachable(f"cannot reach Vault at {self.address}: {reason}")

    def request(
        self, method: str, path: str, data: Any = None, *, headers: dict | None = None, idempotent: bool = False
    ) -> dict | None:
        """``idempotent``: the caller vouches that sending this request twice is
        harmless (e.g. transit encrypt); then a lost answer is retried."""
        body = None if data is None else json.dumps(data).encode()
        delay = 0.2
        for attempt in range(self._retries + 1):
            status, raw = self._exchange(method, path, body, self._headers(headers), idempotent=idempotent)
            if status < 400:
                return json.loads(raw) if raw.strip() else None
            try:
                errors = json.loads(raw).get("errors") or []
            except (ValueError, AttributeError):
                errors = [raw[:200].decode("utf-8", "replace")]
            text = " ".join(str(e) for e in errors)
            if attempt < self._retries and status in (400, 500, 503) and any(
                m in text for m in _TRANSIENT_MARKERS
            ):
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            raise self._error(status, [str(e) for e in errors], path)
        raise AssertionError("unreachable")

    def _error(self, status: int, errors: list[str], path: str) -> NetvaultError:
        token_valid = None
        if status == 403 and self.token:
            # Every valid token may look itself up (default policy), so a 403
            # there means the token itself is expired or revoked.
            token_valid = False if path == "auth/token/lookup-self" else self.token_is_valid()
        if status == 403 and not self.token:
            return NotLoggedIn("not logged in; run `netvault login`")
        if status == 500 and self._audit_blocked():
            return Unreachable(
                "Vault refuses every request: its audit device cannot write (disk full or permissions?). "
                "It fails closed until it can; free space or fix the audit file, then send it SIGHUP "
                "(embedded server: `netvault server status` names the cause)"
            )
        err = map_http_error(status, errors, path, token_valid=token_valid)
        err.status = status  # type: ignore[attr-defined]
        err.vault_errors = errors  # type: ignore[attr-defined]
        return err

    def _audit_blocked(self) -> bool:
        """A 500 on any request may be an audit outage: then a token-less,
        audited look-up fails the same way instead of being refused (403)."""
        try:
            status, _raw = self._send("GET", "auth/token/lookup-self", None, {"Accept": "application/json"})
        except NetvaultError:
            return False
        return status == 500

    def token_is_valid(self) -> bool:
        try:
            self.request("GET", "auth/token/lookup-self")
            return True
        except NetvaultError:
            return False

    # -- verbs ------------------------------------------------------------
    def read(self, path: str) -> dict | None:
        """GET; None when the path does not exist."""
        try:
            return self.request("GET", path)
        except NotFound:
            return None

    def write(self, path: str, data: dict | None = None, *, wrap_ttl: str | None = None,
              idempotent: bool = False) -> dict | None:
        headers = {"X-Vault-Wrap-TTL": wrap_ttl} if wrap_ttl else None
        return self.request("POST", path, data or {}, headers=headers, idempotent=idempotent)

    def list(self, path: str) -> list[str]:
        try:
            resp = self.request("LIST", path)
        except NotFound:
            return []
        return list(((resp or {}).get("data") or {}).get("keys") or [])

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def download(self, path: str) -> bytes:
        """GET a binary body (a raft snapshot)."""
        status, raw = self._exchange("GET", path, None, self._headers(None))
        if status >= 400:
            raise self._error(status, _errors_of(raw), path)
        return raw

    def upload(self, path: str, data: bytes) -> None:
        """POST a binary body (a raft snapshot restore); never sent twice."""
        headers = self._headers({"Content-Type": "application/octet-stream"})
        status, raw = self._exchange("POST", path, data, headers)
        if status >= 400:
            raise self._error(status, _errors_of(raw), path)

    def health(self) -> dict:
        """sys/health without raising on sealed/standby codes."""
        status, raw = self._exchange(
            "GET", "sys/health?standbyok=true&sealedcode=200&uninitcode=200", None, self._headers(None)
        )
        try:
            return json.loads(raw)
        except ValueError:
            raise Unreachable(f"{self.address} does not answer like Vault (HTTP {status})") from None

    def require_ready(self) -> dict:
        h = self.health()
        if not h.get("initialized", False):
            raise Sealed(f"Vault at {self.address} is not initialised")
        if h.get("sealed", False):
            raise Sealed(f"Vault at {self.address} is sealed; unseal it first")
        return h


def admin_client(address: str, token: str | None, *, namespace=None, cacert=None):
    """An hvac client for the set-up plane (lazy import: it costs ~110 ms)."""
    import hvac

    if "," in address:  # a cluster: the first node that answers (standbys forward)
        probe = Vault(address, None, namespace=namespace, cacert=cacert, timeout=5, retries=0)
        probe.health()
        address = probe.node
    return hvac.Client(url=address, token=token, namespace=namespace, verify=cacert or True, timeout=30)


class hvac_errors:
    """Context manager: translate hvac/requests exceptions into netvault errors."""

    def __init__(self, what: str = "Vault") -> None:
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, NetvaultError):
            return False
        import requests
        from hvac import exceptions as hx

        if isinstance(exc, requests.exceptions.ConnectionError):
            raise Unreachable(f"cannot reach {self.what}: connection refused or reset") from None
        if isinstance(exc, requests.exceptions.Timeout):
            raise Unreachable(f"{self.what} did not answer in time") from None
        if isinstance(exc, hx.VaultError):
            status = {
                hx.InvalidRequest: 400, hx.Unauthorized: 401, hx.Forbidden: 403,
                hx.InvalidPath: 404, hx.RateLimitExceeded: 429, hx.InternalServerError: 500,
                hx.VaultNotInitialized: 501, hx.VaultDown: 503, hx.BadGateway: 502,
            }.get(type(exc), 500)
            errors = list(getattr(exc, "errors", None) or [str(exc).split(", on ")[0]])
            raise map_http_error(status, errors, getattr(exc, "url", "") or self.what) from None
        return False
