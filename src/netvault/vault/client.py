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


# -- one connection configuration (issue 10 §2) -----------------------------
_TRUE = ("1", "true", "t", "yes", "y", "on")


def _env(env, *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


def _no_proxy_match(host: str, port: int, no_proxy: str) -> bool:
    """NO_PROXY as curl and Go read it: ``*``, host names (a leading dot or
    not: the name and its sub-domains), IP addresses, optional ``:port``."""
    host = host.lower().strip("[]")
    for item in (i.strip().lower() for i in no_proxy.split(",")):
        if not item:
            continue
        if item == "*":
            return True
        name, _, want_port = item.rpartition(":") if item.count(":") == 1 else (item, "", "")
        if want_port and want_port != str(port):
            continue
        name = name.lstrip(".").strip("[]")
        if host == name or host.endswith("." + name):
            return True
    return False


class ClientConfig:
    """How to reach Vault, resolved once from the config file and the
    environment the ``vault``/``bao`` CLI reads; builds both the stdlib
    ``Vault`` and the hvac admin client (docs/DESIGN.md, Environment).

    Precedence: an address given on the command line (``login --address``),
    then ``VAULT_ADDR``/``BAO_ADDR``, then the config file, then the default
    (like the vault CLI, the environment overrides the config file)."""

    def __init__(self, address: str, *, namespace: str | None = None, cacert: str | None = None,
                 capath: str | None = None, client_cert: str | None = None, client_key: str | None = None,
                 tls_server_name: str | None = None, skip_verify: bool = False, timeout: float = 10.0,
                 max_retries: int = 4, proxies: dict | None = None, no_proxy: str = "") -> None:
        self.address = address
        self.namespace = namespace
        self.cacert = cacert
        self.capath = capath
        self.client_cert = client_cert
        self.client_key = client_key
        self.tls_server_name = tls_server_name
        self.skip_verify = skip_verify
        self.timeout = timeout
        self.max_retries = max_retries
        self.proxies = dict(proxies or {})
        self.no_proxy = no_proxy
        self._ctx = None

    @classmethod
    def from_env(cls, address: str, *, namespace: str | None = None, cacert: str | None = None,
                 env=None, file: dict | None = None) -> "ClientConfig":
        """``address``/``namespace``/``cacert`` as already resolved by
        ``config.load``; the rest from the environment (then ``file``)."""
        import os

        env = os.environ if env is None else env
        file = file or {}
        if (_env(env, "VAULT_CLIENT_CERT", "BAO_CLIENT_CERT") is None) != (_env(env, "VAULT_CLIENT_KEY", "BAO_CLIENT_KEY") is None):
            raise UsageError("VAULT_CLIENT_CERT and VAULT_CLIENT_KEY go together: set both or neither")
        skip = (_env(env, "VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY") or "").strip().lower() in _TRUE
        timeout_text = _env(env, "VAULT_CLIENT_TIMEOUT", "BAO_CLIENT_TIMEOUT")
        timeout = 10.0  # netvault's default (the vault CLI's is 60 s): an engineer mid-outage should not wait a minute
        if timeout_text:
            from netvault.values.durations import parse_seconds

            timeout = float(parse_seconds(timeout_text))
            if timeout <= 0:
                raise UsageError("VAULT_CLIENT_TIMEOUT must be positive")
        retries_text = _env(env, "VAULT_MAX_RETRIES", "BAO_MAX_RETRIES")
        retries = 4  # transient answers (election, a fresh kv mount): netvault's default
        if retries_text:
            if not retries_text.strip().isdigit():
                raise UsageError(f"VAULT_MAX_RETRIES must be a whole number, not {retries_text[:20]!r}")
            retries = int(retries_text)
        proxies = {}
        for scheme in ("https", "http"):
            value = _env(env, f"{scheme}_proxy", f"{scheme.upper()}_PROXY")
            if value:
                proxies[scheme] = value if "://" in value else "http://" + value
        return cls(
            address, namespace=namespace, cacert=cacert,
            capath=_env(env, "VAULT_CAPATH", "BAO_CAPATH") or file.get("capath"),
            client_cert=_env(env, "VAULT_CLIENT_CERT", "BAO_CLIENT_CERT") or file.get("client_cert"),
            client_key=_env(env, "VAULT_CLIENT_KEY", "BAO_CLIENT_KEY") or file.get("client_key"),
            tls_server_name=_env(env, "VAULT_TLS_SERVER_NAME", "BAO_TLS_SERVER_NAME") or file.get("tls_server_name"),
            skip_verify=skip, timeout=timeout, max_retries=retries, proxies=proxies,
            no_proxy=_env(env, "no_proxy", "NO_PROXY") or "",
        )

    @classmethod
    def local(cls, address: str, *, cacert: str | None = None) -> "ClientConfig":
        """A server this machine runs (embedded, local cluster): no environment
        (VAULT_* may point elsewhere, and a proxy must not carry loopback)."""
        return cls(address, cacert=cacert)

    def replace(self, **changes) -> "ClientConfig":
        import copy

        other = copy.copy(self)
        for key, value in changes.items():
            if not hasattr(other, key) or key.startswith("_"):
                raise TypeError(f"no setting {key!r}")
            setattr(other, key, value)
        other._ctx = None
        return other

    def with_address(self, address: str) -> "ClientConfig":
        return self.replace(address=address)

    # -- TLS --------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext:
        """CA file/dir, client certificate, or no verification (warned)."""
        if self._ctx is not None:
            return self._ctx
        if self.skip_verify:
            import sys

            sys.stderr.write("warning: VAULT_SKIP_VERIFY is set: the server's certificate is NOT checked\n")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            try:
                ctx = ssl.create_default_context(cafile=self.cacert)
            except (OSError, ssl.SSLError) as exc:
                raise UsageError(f"cannot use CA certificate {self.cacert!r} (VAULT_CACERT): "
                                 f"{getattr(exc, 'strerror', None) or exc}") from None
            if self.capath:
                self._load_capath(ctx)
        if self.client_cert:
            try:
                ctx.load_cert_chain(self.client_cert, self.client_key)
            except (OSError, ssl.SSLError) as exc:
                raise UsageError(f"cannot use client certificate {self.client_cert!r} with its key "
                                 f"(VAULT_CLIENT_CERT/VAULT_CLIENT_KEY): {getattr(exc, 'strerror', None) or exc}") from None
        self._ctx = ctx
        return ctx

    def _load_capath(self, ctx: ssl.SSLContext) -> None:
        """Every PEM file in the directory (as the vault CLI does; OpenSSL's
        capath would need hashed names)."""
        import os

        if not os.path.isdir(self.capath):
            raise UsageError(f"VAULT_CAPATH {self.capath!r} is not a directory")
        for name in sorted(os.listdir(self.capath)):
            path = os.path.join(self.capath, name)
            if os.path.isfile(path):
                try:
                    ctx.load_verify_locations(cafile=path)
                except ssl.SSLError:
                    continue  # not a certificate

    def proxy_for(self, scheme: str, host: str, port: int) -> tuple[str, int] | None:
        """(host, port) of the proxy to tunnel through (CONNECT), or None."""
        url = self.proxies.get(scheme)
        if not url or _no_proxy_match(host, port, self.no_proxy):
            return None
        parts = urlsplit(url)
        if not parts.hostname:
            raise UsageError(f"invalid proxy address {url!r} ({scheme.upper()}_PROXY)")
        return parts.hostname, parts.port or 3128

    # -- clients ------------------------------------------------------------
    def vault(self, token: str | None = None, *, address: str | None = None, timeout: float | None = None,
              retries: int | None = None, failover_seconds: float = 30.0) -> "Vault":
        """The stdlib client (the hot path)."""
        return Vault(address or self.address, token, config=self, timeout=timeout, retries=retries,
                     failover_seconds=failover_seconds)

    def probe(self, address: str | None = None, *, timeout: float = 5.0) -> "Vault":
        """A token-less client that does not retry: health checks, polling."""
        return self.vault(None, address=address, timeout=timeout, retries=0)

    def once(self, token: str | None, *, address: str | None = None, timeout: float | None = None) -> "Vault":
        """A client that sends each request once (no transient retries)."""
        return self.vault(token, address=address, timeout=timeout, retries=0)

    def admin(self, token: str | None, *, address: str | None = None):
        """An hvac client for the set-up plane (lazy import: it costs ~110 ms),
        with the same TLS, proxy, namespace, timeout and retries."""
        import hvac
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        address = address or self.address
        if "," in address:  # a cluster: the first node that answers (standbys forward)
            probe = self.probe(address)
            probe.health()
            address = probe.node
        ctx = self.ssl_context() if urlsplit(address).scheme == "https" else None
        server_name = self.tls_server_name

        class _Adapter(HTTPAdapter):
            def init_poolmanager(self, *args, **kwargs):
                if ctx is not None:
                    kwargs["ssl_context"] = ctx
                    if server_name:
                        kwargs["server_hostname"] = server_name
                return super().init_poolmanager(*args, **kwargs)

            def proxy_manager_for(self, proxy, **kwargs):
                if ctx is not None:
                    kwargs["ssl_context"] = ctx
                    if server_name:
                        kwargs["server_hostname"] = server_name
                return super().proxy_manager_for(proxy, **kwargs)

        session = requests.Session()
        session.trust_env = False  # proxies come from this config (NO_PROXY included)
        retry = Retry(total=self.max_retries, backoff_factor=0.2, status_forcelist=(412, 500, 502, 503, 504),
                      allowed_methods=None, raise_on_status=False, redirect=False)
        session.mount("https://", _Adapter(max_retries=retry))
        session.mount("http://", _Adapter(max_retries=retry))
        parts = urlsplit(address)
        proxy = self.proxy_for(parts.scheme, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        if proxy:
            session.proxies = {parts.scheme: f"http://{proxy[0]}:{proxy[1]}"}
        verify: bool | str = not self.skip_verify
        if ctx is not None and not self.skip_verify:
            # our context already trusts VAULT_CACERT/CAPATH; requests would
            # otherwise replace it with certifi's bundle
            verify = self.cacert or True
        client = hvac.Client(url=address, token=token, namespace=self.namespace, verify=verify,
                             timeout=max(self.timeout, 30.0), session=session)
        client.netvault_config = self.with_address(address)  # layout's domain helpers reuse it
        return client


_CONNECTION_CLASSES: dict = {}


def _https_connection_class():
    """http.client.HTTPSConnection that checks the certificate against
    VAULT_TLS_SERVER_NAME when set (built on first use: http.client is lazy)."""
    cls = _CONNECTION_CLASSES.get("https")
    if cls is None:
        import http.client

        class VerifyingHTTPSConnection(http.client.HTTPSConnection):
            def __init__(self, *args, server_name: str | None = None, **kwargs):
                super().__init__(*args, **kwargs)
                self._server_name = server_name

            def connect(self):
                http.client.HTTPConnection.connect(self)  # TCP, and the proxy tunnel if any
                name = self._server_name or self._tunnel_host or self.host
                self.sock = self._context.wrap_socket(self.sock, server_hostname=name)

        cls = _CONNECTION_CLASSES["https"] = VerifyingHTTPSConnection
    return cls


def _reason(exc: BaseException | None) -> str:
    """A short, secret-free reason for a failed connection."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verify failed ({exc.reason}: {exc.verify_message}); see VAULT_CACERT / VAULT_TLS_SERVER_NAME"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or type(exc).__name__}); a client certificate may be required (VAULT_CLIENT_CERT)"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "no answer in time (VAULT_CLIENT_TIMEOUT)"
    return getattr(exc, "strerror", None) or type(exc).__name__


class Vault:
    """Minimal Vault API client: read/write/list/delete with one keep-alive connection."""

    def __init__(
        self,
        address: str,
        token: str | None = None,
        *,
        namespace: str | None = None,
        cacert: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        failover_seconds: float = 30.0,
        config: ClientConfig | None = None,
    ) -> None:
        """Prefer ``ClientConfig.vault``; ``namespace``/``cacert`` here only
        for a client without a config (tests, tools)."""
        self._nodes = split_addresses(address)
        #: the configured address(es), comma-separated: what tokens are stored under
        self.address = ",".join(self._nodes)
        self.token = token
        if config is None:
            config = ClientConfig(self.address, namespace=namespace, cacert=cacert)
        self.config = config
        self.namespace = config.namespace
        self._cacert = config.cacert
        self._timeout = config.timeout if timeout is None else timeout
        self._retries = config.max_retries if retries is None else retries
        self._conn = None
        self._failover_seconds = failover_seconds
        self._current = 0
        self._answered_by: str | None = None
        self._picked = False
        self._location: str | None = None
        self._use_node(0)

    # -- plumbing ---------------------------------------------------------
    def clone(self) -> "Vault":
        """A client with its own connection (one per thread)."""
        return Vault(
            self.address, self.token, config=self.config,
            timeout=self._timeout, retries=self._retries, failover_seconds=self._failover_seconds,
        )

    def _connect(self, scheme: str | None = None, host: str | None = None, port: int | None = None):
        import http.client

        scheme, host, port = scheme or self._scheme, host or self._host, port or self._port
        proxy = self.config.proxy_for(scheme, host, port)
        target = proxy or (host, port)
        if scheme == "https":
            conn = _https_connection_class()(target[0], target[1], timeout=self._timeout,
                                             context=self.config.ssl_context(),
                                             server_name=self.config.tls_server_name)
        else:
            conn = http.client.HTTPConnection(target[0], target[1], timeout=self._timeout)
        if proxy:
            conn.set_tunnel(host, port)  # CONNECT through HTTPS_PROXY / HTTP_PROXY
        return conn

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
                raise Unreachable(f"cannot reach Vault at {self.node}: {_reason(exc)}") from None

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
            status, raw = self._send(method, path, body, headers, idempotent=idempotent)
            if status in (307, 308) and self._location:
                return self._follow(method, path, body, headers, idempotent, status, raw)
            return status, raw
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

    def _follow(self, method: str, path: str, body: bytes | None, headers: dict, idempotent: bool,
                status: int, raw: bytes) -> tuple[int, bytes]:
        """A standby that does not forward answers 307 with the active node's
        address (as the vault CLI does, follow it: the request was not carried
        out). Never from https to http; at most 3 hops; the configured
        address stays what tokens are stored under."""
        for _hop in range(3):
            if status not in (307, 308) or not self._location:
                return status, raw
            target = urlsplit(self._location)
            if target.scheme not in ("http", "https") or not target.hostname or (
                    self._scheme == "https" and target.scheme != "https"):
                raise Unreachable(f"Vault at {self.node} redirected to an address netvault will not follow")
            conn = self._connect(target.scheme, target.hostname,
                                 target.port or (443 if target.scheme == "https" else 80))
            try:
                conn.request(method, target.path + (f"?{target.query}" if target.query else ""), body=body, headers=headers)
                resp = conn.getresponse()
                status, raw = resp.status, resp.read()
                self._location = resp.getheader("Location") if status in (301, 302, 307, 308) else None
            except (ConnectionError, socket.timeout, OSError) as exc:
                reason = getattr(exc, "strerror", None) or type(exc).__name__
                raise Unreachable(f"cannot reach the active Vault node at {target.scheme}://{target.netloc}: {reason}") from None
            finally:
                conn.close()
        return status, raw

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
                self._location = resp.getheader("Location") if resp.status in (301, 302, 307, 308) else None
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
        raise Unreachable(f"cannot reach Vault at {self.address}: {_reason(last_exc)}")

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


def admin_client(address: str, token: str | None, *, namespace=None, cacert=None, config: ClientConfig | None = None):
    """An hvac client for the set-up plane; prefer ``ClientConfig.admin``."""
    if config is None:
        config = ClientConfig(address, namespace=namespace, cacert=cacert, timeout=30.0)
    return config.admin(token, address=address)


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
