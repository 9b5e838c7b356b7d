"""The global find index (bucket documents) converges to exactly the devices' MACs, under
any interleaving of writers (issue 9, item 1).

Two tests pause one real writer between two of its requests while another
writer completes, at the very points where the old write order lost an
entry for good; a third lets 16 editors race over 50 rounds and compares
the whole index with the records after every round.
"""

from __future__ import annotations

import secrets
import threading

import pytest

from netvault.errors import Conflict, NotFound
from netvault.vault.client import Vault
from netvault.records import index
from netvault.records.store import Store

KV = "netvault"


class PausingVault(Vault):
    """A real gateway that stops once before the first request matching
    ``when(method, path)``, until the test lets it go on."""

    def __init__(self, *args, when=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.when = when
        self.paused = threading.Event()
        self.resume = threading.Event()
        self._armed = [when is not None]
        self._lock = threading.Lock()

    def clone(self) -> "PausingVault":
        twin = PausingVault(self.address, self.token, namespace=self.namespace, retries=self._retries)
        twin.when, twin.paused, twin.resume = self.when, self.paused, self.resume
        twin._armed, twin._lock = self._armed, self._lock
        return twin

    def request(self, method, path, data=None, *, headers=None, idempotent=False):
        with self._lock:
            stop = self._armed[0] and self.when(method, path)
            if stop:
                self._armed[0] = False
        if stop:
            self.paused.set()
            assert self.resume.wait(60), "the test never resumed the paused writer"
        return super().request(method, path, data, headers=headers, idempotent=idempotent)


def _mac(other: str | None = None) -> str:
    """A random MAC; given ``other``, one whose index bucket differs from its
    (so pausing at one MAC's bucket write stops exactly that write)."""
    while True:
        mac = "02" + secrets.token_hex(5)
        if other is None or index.bucket(mac) != index.bucket(other):
            return mac


def _bucket_write(mac: str):
    return lambda method, path: method == "POST" and path.endswith(index.path_of("mac", mac))


def _index_entries(vault: Vault, customer: str, macs: set[str], names: set[str]) -> set[tuple[str, str, str]]:
    """(what, key, device) for every global index entry naming one of this
    customer's devices among the given MACs (read from the bucket documents)."""
    out = set()
    for mac in macs:
        for c, device in index.holders(vault, KV, "mac", mac):
            if c == customer:
                out.add(("mac", mac, device))
    return out


def _expected(store: Store, customer: str, names: set[str]) -> set[tuple[str, str, str]]:
    out = set()
    for name in names:
        try:
            dev = store.show("device", customer, name)
        except NotFound:
            continue
        for mac in dev.get("macs") or []:
            out.add(("mac", mac, name))
    return out


@pytest.fixture
def shop(server, unique):
    root = server.gateway()
    store = Store(root)
    customer = unique("conv")
    store.add_customer(customer, {})
    return store, customer


def _paused_store(server, when) -> tuple[Store, PausingVault]:
    vault = PausingVault(server.address, server.root_token, when=when)
    return Store(vault), vault


def _run(fn) -> tuple[threading.Thread, list]:
    errors: list = []

    def target():
        try:
            fn()
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    t = threading.Thread(target=target)
    t.start()
    return t, errors


def test_edit_racing_edit_back_keeps_the_mac_findable(server, shop):
    """A moves the device M1 -> M2 and is paused just before it drops M1's
    entries; B moves it back M2 -> M1 and completes. With the old order A then
    removed M1 for good: the device held M1 and find no longer found it."""
    store, c = shop
    m1 = _mac()
    m2 = _mac(m1)
    store.add_device(c, "dev", kind="router", macs=[m1], force=True)
    slow, vault = _paused_store(server, _bucket_write(m1))
    a, errors = _run(lambda: slow.edit_device(c, "dev", macs=[m2], force=True))
    assert vault.paused.wait(30)
    store.edit_device(c, "dev", macs=[m1], force=True)  # B completes while A waits
    vault.resume.set()
    a.join(60)
    assert not errors, errors
    assert store.show("device", c, "dev")["macs"] == [m1]
    assert _index_entries(store.vault, c, {m1, m2}, {"dev"}) == _expected(store, c, {"dev"})


def test_remove_racing_add_again_keeps_the_new_device_findable(server, shop):
    """A removes the device and is paused before it drops the entries; B adds
    the same name with the same MAC again and completes (its index adds are
    no-ops: the entries are still there). A must not take them away."""
    store, c = shop
    m1 = _mac()
    store.add_device(c, "dev", kind="router", macs=[m1], force=True)
    slow, vault = _paused_store(server, _bucket_write(m1))
    a, errors = _run(lambda: slow.remove("device", c, "dev"))
    assert vault.paused.wait(30)
    store.add_device(c, "dev", kind="switch", macs=[m1], force=True)
    vault.resume.set()
    a.join(60)
    assert not errors, errors
    assert store.show("device", c, "dev")["kind"] == "switch"
    assert _index_entries(store.vault, c, {m1}, {"dev"}) == _expected(store, c, {"dev"})


def test_failed_add_takes_back_its_entries(server, shop):
    """A losing add (the name exists) leaves no entry for its MAC behind."""
    store, c = shop
    m1, m2 = _mac(), _mac()
    store.add_device(c, "dev", kind="router", macs=[m1], force=True)
    with pytest.raises(Conflict):
        store.add_device(c, "dev", kind="router", macs=[m2], force=True)
    assert _index_entries(store.vault, c, {m1, m2}, {"dev"}) == _expected(store, c, {"dev"})


def random_device_step(store, customer: str, name: str, pool: list[str], rnd) -> str:
    """One racing writer's step: mostly an edit of the device's MACs, sometimes
    a remove or an add again; "ok", "conflict" or "gone" (lost a race)."""
    try:
        roll = rnd.random()
        if roll < 0.7:
            store.edit_device(customer, name, macs=rnd.sample(pool, rnd.randint(1, 2)), force=True)
        elif roll < 0.85:
            store.remove("device", customer, name)
        else:
            store.add_device(customer, name, kind="router", macs=[rnd.choice(pool)], force=True)
        return "ok"
    except Conflict:
        return "conflict"
    except NotFound:
        return "gone"


def test_sixteen_parallel_editors_fifty_rounds(server, shop):
    """16 writers edit, remove and re-add two devices at once; after each round
    the index equals the records exactly: nothing missing, nothing stale."""
    store, c = shop
    pool = [_mac() for _ in range(6)]
    devices = {"d1", "d2"}
    for d in devices:
        store.add_device(c, d, kind="router", macs=[pool[0]], force=True)
    outcomes = {"ok": 0, "conflict": 0, "gone": 0}
    lock = threading.Lock()

    def writer(seed: int) -> None:
        rnd = secrets.SystemRandom()
        client = Store(store.vault.clone())
        name = sorted(devices)[seed % 2]
        key = random_device_step(client, c, name, pool, rnd)
        with lock:
            outcomes[key] += 1

    for _round in range(50):
        threads = [threading.Thread(target=writer, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        have = _index_entries(store.vault, c, set(pool), devices)
        want = _expected(store, c, devices)
        assert have == want, f"round {_round}: missing {want - have}, stale {have - want}"
    assert outcomes["ok"] > 50  # the race was real: many writes landed, many lost
    assert outcomes["conflict"] + outcomes["gone"] > 0
