"""netvault.vault.kv on the fake gateway (tests/fake_vault.py): the
check-and-set rules and the retry loop, with the other writer placed exactly
where the test wants it. No server: the whole module runs in milliseconds.
The same rules on a real OpenBao: tests/test_kv.py; the fake's own faithfulness:
tests/test_fake_vault.py."""

from __future__ import annotations

import threading

import pytest

from fake_vault import FakeVault
from netvault.errors import Conflict
from netvault.vault import kv as kvl

KV = "netvault"


@pytest.fixture
def fake():
    return FakeVault()


def _interloper(fake: FakeVault, path: str, times: int, change):
    """Before each of the next ``times`` data writes of ``path``, another
    writer gets in first (``change(data) -> data``, written with its own cas)."""
    left = [times]
    other = fake.clone()

    def before(method, api_path):
        if method == "POST" and api_path == kvl.data_path(KV, path) and left[0] > 0:
            left[0] -= 1
            data, cas = kvl.read_for_update(other, KV, path)
            kvl.kv_write(other, KV, path, change(data or {}), cas=cas)

    fake.before = before
    return left


def test_create_once_then_conflict(fake):
    assert kvl.kv_create(fake, KV, "a/k", {"x": 1}) == 1
    with pytest.raises(Conflict):
        kvl.kv_create(fake, KV, "a/k", {"x": 2})
    assert kvl.kv_data(fake, KV, "a/k") == {"x": 1}


def test_stale_cas_writes_nothing(fake):
    kvl.kv_create(fake, KV, "k", {"n": 1})
    assert kvl.kv_write(fake, KV, "k", {"n": 2}, cas=1) == 2
    with pytest.raises(Conflict):
        kvl.kv_write(fake, KV, "k", {"n": 3}, cas=1)
    assert kvl.kv_read(fake, KV, "k") == ({"n": 2}, {"created_time": fake.read(f"{KV}/data/k")["data"]["metadata"]["created_time"],
                                                    "custom_metadata": None, "deletion_time": "",
                                                    "destroyed": False, "version": 2})
    assert kvl.current_version(fake, KV, "k") == 2


def test_edit_retries_after_a_concurrent_write_and_keeps_both(fake):
    kvl.kv_create(fake, KV, "k", {"items": ["a"]})
    left = _interloper(fake, "k", 1, lambda d: {"items": d["items"] + ["theirs"]})
    seen = []

    def change(data):
        seen.append(list(data["items"]))
        return {"items": data["items"] + ["mine"]}

    assert kvl.kv_edit(fake, KV, "k", change) == {"items": ["a", "theirs", "mine"]}
    assert left == [0] and fake.conflicts == 1
    assert seen == [["a"], ["a", "theirs"]]  # the change ran again on the fresh data
    assert kvl.kv_data(fake, KV, "k") == {"items": ["a", "theirs", "mine"]}


def test_edit_gives_up_after_its_retries_with_the_callers_message(fake):
    kvl.kv_create(fake, KV, "k", {"n": 0})
    _interloper(fake, "k", 10**6, lambda d: {"n": d["n"] + 1})
    with pytest.raises(Conflict, match="the index kept changing"):
        kvl.kv_edit(fake, KV, "k", lambda d: {"n": -1}, retries=5, gave_up="the index kept changing")
    assert fake.conflicts == 5
    assert kvl.kv_data(fake, KV, "k") == {"n": 5}  # only the interloper's writes landed


def test_edit_with_nothing_to_do_writes_nothing(fake):
    kvl.kv_create(fake, KV, "k", {"n": 1})
    before = fake.writes()
    assert kvl.kv_edit(fake, KV, "k", lambda d: None) is None
    assert fake.writes() == before
    assert kvl.current_version(fake, KV, "k") == 1


def test_edit_of_an_absent_key_creates_it(fake):
    assert kvl.kv_edit(fake, KV, "new", lambda d: {**d, "n": 1}) == {"n": 1}
    assert kvl.current_version(fake, KV, "new") == 1


def test_edit_supersedes_a_deleted_version(fake):
    kvl.kv_create(fake, KV, "k", {"n": 1})
    kvl.kv_delete_latest(fake, KV, "k")
    assert kvl.read_for_update(fake, KV, "k") == (None, 1)
    assert kvl.kv_edit(fake, KV, "k", lambda d: {"n": 2, "was": dict(d)}) == {"n": 2, "was": {}}
    meta = kvl.kv_metadata(fake, KV, "k")
    assert kvl.current_version_of(meta) == 2 and kvl.is_live(meta)


def test_delete_undelete_destroy_versions(fake):
    for n in range(3):
        kvl.kv_write(fake, KV, "k", {"n": n}, cas=n)
    kvl.kv_delete_versions(fake, KV, "k", [3])
    assert kvl.kv_read(fake, KV, "k") is None and not kvl.is_live(kvl.kv_metadata(fake, KV, "k"))
    kvl.kv_undelete_versions(fake, KV, "k", [3])
    assert kvl.kv_data(fake, KV, "k") == {"n": 2}
    kvl.kv_destroy_versions(fake, KV, "k", [1])
    kvl.kv_undelete_versions(fake, KV, "k", [1])
    assert kvl.kv_data(fake, KV, "k", version=1) is None
    assert kvl.version_numbers(kvl.kv_metadata(fake, KV, "k")) == [1, 2, 3]
    kvl.kv_erase(fake, KV, "k")
    assert kvl.kv_metadata(fake, KV, "k") is None and kvl.current_version(fake, KV, "k") == 0


def test_list_names_and_folders(fake):
    for path in ("c/x", "c/a", "c/sub/one", "c/sub/two/deep", "d/other"):
        kvl.kv_create(fake, KV, path, {})
    assert kvl.kv_names(fake, KV, "c") == ["a", "x"]
    assert kvl.kv_folders(fake, KV, "c") == ["sub"]
    assert kvl.kv_list(fake, KV, "c/sub") == ["one", "two/"]
    assert kvl.kv_list(fake, KV, "nothing") == []


def test_delete_quietly(fake):
    kvl.kv_create(fake, KV, "k", {})
    assert kvl.delete_quietly(fake, kvl.metadata_path(KV, "k")) is True
    # KV answers 204 for a key that is not there, so this is "deleted" too
    assert kvl.delete_quietly(fake, kvl.metadata_path(KV, "k")) is True


def test_many_threads_editing_one_key_lose_no_update(fake):
    """32 threads append to one list through kv_edit; the fake yields between
    requests so they really interleave. Every append lands exactly once."""
    import time

    kvl.kv_create(fake, KV, "k", {"items": []})
    fake.before = lambda method, path: time.sleep(0)

    def worker(i):
        client = fake.clone()
        for j in range(10):
            kvl.kv_edit(client, KV, "k", lambda d, i=i, j=j: {"items": d["items"] + [f"{i}-{j}"]}, retries=10_000)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    items = kvl.kv_data(fake, KV, "k")["items"]
    assert sorted(items) == sorted(f"{i}-{j}" for i in range(32) for j in range(10))
    assert kvl.current_version(fake, KV, "k") == 1 + 320
    assert fake.conflicts > 0  # the writers did collide, and the loop absorbed it
