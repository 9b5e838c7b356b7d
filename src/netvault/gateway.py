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
    ) -> None:
        parts = urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"invalid Vault address {address!r}; expected http(s)://host:port")
        self.address = address.rstrip("/")
        self.token = token
        self.namespace = namespace
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._cacert = cacert
        self._timeout = timeout
        self._retries = retries
        self._conn = None

    # -- plumbing ---------------------------------------------------------
    def clone(self) -> "Vault":
        """A client with its own connection (one per thread)."""
        return Vault(
            self.address, self.token, namespace=self.namespace, cacert=self._cacert,
            timeout=self._timeout, retries=self._retries,
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
            status, raw = self._send(method, path, body, self._headers(headers), idempotent=idempotent)
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
        err = map_http_error(status, errors, path, token_valid=token_valid)
        err.status = status  # type: ignore[attr-defined]
        err.vault_errors = errors  # type: ignore[attr-defined]
        return err

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

    def health(self) -> dict:
        """sys/health without raising on sealed/standby codes."""
        status, raw = self._send(
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
