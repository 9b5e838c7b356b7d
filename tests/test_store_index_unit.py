"""records.store's find-index maintenance on the fake gateway
(tests/fake_vault.py): the same interleavings as tests/test_index_convergence.py
(which runs them against the real OpenBao), here in milliseconds, plus the
index's own check-and-set retry. Devices carry no secret fields, so a device's
whole write path is KV v2 and runs on the fake unchanged."""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest

from fake_vault import FakeVault
from netvault.errors import Conflict
from netvault.records import index
from netvault.records.lookup import customer_index_path
from netvault.records.store import INDEX_RETRIES, Store
from netvault.vault import kv as kvl
from test_index_convergence import _expected, _index_entries, random_device_step
from test_index_convergence import _run as _in_thread

KV = "netvault"
C = "acme"


def _shop(fake: FakeVault, customer: str = C) -> Store:
    """A customer as `customer add` leaves it in KV (the transit key and
    policies it also makes are not KV, and a device needs neither)."""
    rid = uuid.uuid4().hex
    kvl.kv_create(fake, KV, f"customers/{customer}/_ids/{rid}", {"kind": "customer", "name": customer, "customer": customer})
    kvl.kv_create(fake, KV, f"customers/{customer}/profile", {"id": rid})
    return Store(fake)


@pytest.fixture
def fake():
    return FakeVault()


@pytest.fixture
def store(fake):
    return _shop(fake)


def _pause_once(fake: FakeVault, when):
    """Stop the first request (of any clone) matching ``when(method, path)``
    until ``resume`` is set; ``paused`` is set when it stops."""
    paused, resume = threading.Event(), threading.Event()
    armed = [True]
    lock = threading.Lock()

    def before(method, path):
        with lock:
            stop = armed[0] and when(method, path)
            if stop:
                armed[0] = False
        if stop:
            paused.set()
            assert resume.wait(10), "the test never resumed the paused writer"

    fake.before = before
    return paused, resume



def _bucket_doc(vault, what: str, key: str) -> dict | None:
    """The KV data of the bucket document holding ``key`` (None: none yet)."""
    return kvl.kv_data(vault, KV, index.path_of(what, key))


def test_add_device_writes_every_index_entry(store):
    store.add_device(C, "gw", kind="router", macs=["02:00:00:00:00:01"], ips=["10.0.0.1"], force=True)
    dev = store.show("device", C, "gw")
    mac, ip = dev["macs"][0], dev["ips"][0]
    for what, key in (("mac", mac), ("ip", ip)):
        assert index.holders(store.vault, KV, what, key) == [(C, "gw")]
        doc = _bucket_doc(store.vault, what, key)
        assert list(doc) == ["z"] and isinstance(doc["z"], str)  # one packed string a bucket
        assert index.decode(doc) == {key: [(C, "gw")]}
    # the old layout is gone: no per-customer lists, no per-key global lists
    # (names included), no `_ids` entry for a device
    assert kvl.kv_list(store.vault, KV, "_index") == ["buckets/"]
    assert kvl.kv_list(store.vault, KV, f"customers/{C}/_index") == ["search"]  # find's search document only
    ids = [kvl.kv_data(store.vault, KV, f"customers/{C}/_ids/{i}") for i in kvl.kv_names(store.vault, KV, f"customers/{C}/_ids")]
    assert [d["kind"] for d in ids] == ["customer"]


def test_edit_moves_the_entries_and_remove_drops_them(store):
    store.add_device(C, "gw", kind="router", macs=["02:00:00:00:00:01"], ips=["10.0.0.1"], force=True)
    m1 = store.show("device", C, "gw")["macs"][0]
    store.edit_device(C, "gw", macs=["02:00:00:00:00:02"], ips=["10.0.0.2"], force=True)
    dev = store.show("device", C, "gw")
    m2, ip2 = dev["macs"][0], dev["ips"][0]
    assert index.bucket(m1) != index.bucket(m2)  # a move between two documents
    assert _index_entries(store.vault, C, {m1, m2}, {"gw"}) == _expected(store, C, {"gw"}) == {("mac", m2, "gw")}
    assert index.holders(store.vault, KV, "mac", m1) == []
    assert index.decode(_bucket_doc(store.vault, "mac", m1)) == {}  # the entry is gone, not left empty
    assert index.holders(store.vault, KV, "ip", "10.0.0.1") == []
    assert index.holders(store.vault, KV, "ip", ip2) == [(C, "gw")]
    store.remove("device", C, "gw")
    assert _index_entries(store.vault, C, {m1, m2}, {"gw"}) == set()
    assert index.holders(store.vault, KV, "ip", ip2) == []


def test_two_customers_share_a_global_entry_sorted(fake):
    a, b = _shop(fake, "b-cust"), _shop(fake, "a-cust")
    a.add_device("b-cust", "gw", kind="router", macs=["02:00:00:00:00:09"], force=True)
    b.add_device("a-cust", "gw", kind="router", macs=["02:00:00:00:00:09"], force=True)
    mac = a.show("device", "b-cust", "gw")["macs"][0]
    assert index.holders(fake, KV, "mac", mac) == [("a-cust", "gw"), ("b-cust", "gw")]
    assert index.decode(_bucket_doc(fake, "mac", mac)) == {mac: [("a-cust", "gw"), ("b-cust", "gw")]}


def _same_bucket(key: str) -> str:
    """Another MAC whose entries live in the same bucket document as ``key``'s."""
    return next(k for k in (f"0200000{i:05x}" for i in range(1, 100000)) if k != key and index.bucket(k) == index.bucket(key))


def test_index_edit_retries_when_another_writer_got_in_first(store, fake):
    """A bucket is read-modify-write under check-and-set: a writer that lands
    in between (here with another MAC of the same bucket) makes the write
    fail, and the entry goes on top of theirs."""
    mine = "020000000042"
    theirs = _same_bucket(mine)
    path = index.path_of("mac", mine)
    other = fake.clone()  # before `before` is set: it writes unhindered
    landed = []

    def before(method, api_path):
        if method == "POST" and api_path == kvl.data_path(KV, path) and not landed:
            landed.append(True)
            index.edit(other, KV, adds=[("mac", theirs, "zz", "theirs")])

    fake.before = before
    store._index_add(C, "mine", {("mac", mine)})
    assert landed and fake.conflicts == 1
    assert index.decode(kvl.kv_data(fake, KV, path)) == {mine: [(C, "mine")], theirs: [("zz", "theirs")]}


def test_index_edit_gives_up_after_its_retries(store, fake):
    path = customer_index_path(C, "mac", "020000000043")
    other = fake.clone()

    def before(method, api_path):
        if method == "POST" and api_path == kvl.data_path(KV, path):
            data, cas = kvl.read_for_update(other, KV, path)
            kvl.kv_write(other, KV, path, {"devices": sorted((data or {}).get("devices", []) + [f"d{cas}"])}, cas=cas)

    fake.before = before
    with pytest.raises(Conflict, match="kept changing"):
        store._index_edit(path, "devices", "mine", True)
    assert fake.conflicts == INDEX_RETRIES
    assert "mine" not in kvl.kv_data(fake, KV, path)["devices"]


def test_edit_racing_edit_back_keeps_the_mac_findable(store, fake):
    """As in test_index_convergence: A moves M1 -> M2 and stops just before it
    drops M1's entries; B moves the device back to M1 and completes."""
    store.add_device(C, "dev", kind="router", macs=["02:00:00:00:00:01"], force=True)
    m1 = store.show("device", C, "dev")["macs"][0]
    paused, resume = _pause_once(fake, lambda method, path: method == "POST" and path == kvl.data_path(KV, index.path_of("mac", m1)))
    a, errors = _in_thread(lambda: Store(fake.clone()).edit_device(C, "dev", macs=["02:00:00:00:00:02"], force=True))
    assert paused.wait(10)
    b = FakeVault(_store=fake._store)  # a second writer, not paused
    Store(b).edit_device(C, "dev", macs=[m1], force=True)
    resume.set()
    a.join(10)
    assert not errors, errors
    m2 = "020000000002"
    assert store.show("device", C, "dev")["macs"] == [m1]
    assert _index_entries(fake, C, {m1, m2}, {"dev"}) == _expected(store, C, {"dev"})


def test_remove_racing_add_again_keeps_the_new_device_findable(store, fake):
    store.add_device(C, "dev", kind="router", macs=["02:00:00:00:00:01"], force=True)
    m1 = store.show("device", C, "dev")["macs"][0]
    paused, resume = _pause_once(fake, lambda method, path: method == "POST" and path == kvl.data_path(KV, index.path_of("mac", m1)))
    a, errors = _in_thread(lambda: Store(fake.clone()).remove("device", C, "dev"))
    assert paused.wait(10)
    Store(FakeVault(_store=fake._store)).add_device(C, "dev", kind="switch", macs=[m1], force=True)
    resume.set()
    a.join(10)
    assert not errors, errors
    assert store.show("device", C, "dev")["kind"] == "switch"
    assert _index_entries(fake, C, {m1}, {"dev"}) == _expected(store, C, {"dev"})


def test_failed_add_takes_back_its_entries(store, fake):
    store.add_device(C, "dev", kind="router", macs=["02:00:00:00:00:01"], force=True)
    with pytest.raises(Conflict):
        store.add_device(C, "dev", kind="router", macs=["02:00:00:00:00:02"], force=True)
    assert _index_entries(fake, C, {"020000000001", "020000000002"}, {"dev"}) == _expected(store, C, {"dev"})


def test_sixteen_parallel_editors_fifty_rounds(store, fake):
    """The race of test_index_convergence, on the fake: writers
    yield between requests, so they interleave at every request boundary."""
    pool = [f"02000000{i:04x}" for i in range(6)]
    devices = ["d1", "d2"]
    for d in devices:
        store.add_device(C, d, kind="router", macs=[pool[0]], force=True)
    fake.before = lambda method, path: time.sleep(0)
    outcomes = {"ok": 0, "conflict": 0, "gone": 0}
    lock = threading.Lock()

    def writer(seed: int) -> None:
        rnd = random.Random(seed)
        client = Store(fake.clone())
        name = devices[seed % 2]
        key = random_device_step(client, C, name, pool, rnd)
        with lock:
            outcomes[key] += 1

    for n in range(50):
        threads = [threading.Thread(target=writer, args=(n * 16 + i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        have = _index_entries(fake, C, set(pool), set(devices))
        want = _expected(store, C, set(devices))
        assert have == want, f"round {n}: missing {want - have}, stale {have - want}"
    assert outcomes["ok"] > 50
    assert fake.conflicts > 0 and outcomes["conflict"] + outcomes["gone"] > 0
