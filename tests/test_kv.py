"""netvault.vault.kv: the one KV v2 layer.

Pure parts (paths, metadata) need no server; check-and-set, the retry loop
and the version verbs are tried against the real OpenBao (its KV mount has
``cas_required``, as in production).
"""

from __future__ import annotations

import pytest

from netvault.errors import Conflict
from netvault.vault import kv as kvl

# -- pure ---------------------------------------------------------------------------


def test_paths_of_a_mount():
    assert kvl.data_path("netvault", "customers/acme/profile") == "netvault/data/customers/acme/profile"
    assert kvl.data_path("nv2", "a/b", 3) == "nv2/data/a/b?version=3"
    assert kvl.data_path("nv2", "a/b", None) == "nv2/data/a/b"
    assert kvl.metadata_path("nv2", "_grants/acme") == "nv2/metadata/_grants/acme"
    assert kvl.SETTINGS_PATH == "_config/settings"


def test_current_version_of_metadata():
    assert kvl.current_version_of(None) == 0
    assert kvl.current_version_of({}) == 0
    assert kvl.current_version_of({"current_version": 4}) == 4


@pytest.mark.parametrize("meta,live", [
    (None, False),
    ({"current_version": 0, "versions": {}}, False),
    ({"current_version": 2, "versions": {"1": {}, "2": {"deletion_time": "", "destroyed": False}}}, True),
    ({"current_version": 2, "versions": {"2": {"deletion_time": "2026-11-28T10:00:00Z"}}}, False),
    ({"current_version": 2, "versions": {"2": {"deletion_time": "", "destroyed": True}}}, False),
])
def test_is_live(meta, live):
    assert kvl.is_live(meta) is live


def test_version_numbers_oldest_first():
    assert kvl.version_numbers({"versions": {"10": {}, "2": {}, "1": {}}}) == [1, 2, 10]
    assert kvl.version_numbers(None) == []


# -- against the real server --------------------------------------------------------


@pytest.fixture
def kv_place(server, unique):
    return server.gateway(), server.mounts.kv, f"_test/{unique('kv')}"


def test_create_once_then_conflict(kv_place):
    vault, kv, path = kv_place
    assert kvl.read_for_update(vault, kv, path) == (None, 0)
    assert kvl.kv_create(vault, kv, path, {"n": 1}) == 1
    with pytest.raises(Conflict):
        kvl.kv_create(vault, kv, path, {"n": 2})
    assert kvl.kv_data(vault, kv, path) == {"n": 1}


def test_stale_cas_is_a_conflict_and_writes_nothing(kv_place):
    vault, kv, path = kv_place
    kvl.kv_create(vault, kv, path, {"n": 1})
    assert kvl.kv_write(vault, kv, path, {"n": 2}, cas=1) == 2
    with pytest.raises(Conflict):
        kvl.kv_write(vault, kv, path, {"n": 3}, cas=1)  # someone else wrote version 2
    data, meta = kvl.kv_read(vault, kv, path)
    assert data == {"n": 2} and meta["version"] == 2
    assert kvl.current_version(vault, kv, path) == 2


def test_edit_retries_after_a_concurrent_write(kv_place, server):
    vault, kv, path = kv_place
    kvl.kv_create(vault, kv, path, {"items": ["a"]})
    other = server.gateway()  # a second writer, its own connection
    calls = []

    def add_b(data):
        calls.append(list(data["items"]))
        if len(calls) == 1:  # another writer gets in between our read and our write
            kvl.kv_write(other, kv, path, {"items": data["items"] + ["x"]}, cas=1)
        return {"items": data["items"] + ["b"]}

    written = kvl.kv_edit(vault, kv, path, add_b)
    assert calls == [["a"], ["a", "x"]]  # re-read after the conflict, not overwritten
    assert written == {"items": ["a", "x", "b"]}
    assert kvl.kv_data(vault, kv, path) == {"items": ["a", "x", "b"]}
    assert kvl.current_version(vault, kv, path) == 3


def test_edit_gives_up_with_the_callers_message(kv_place, server):
    vault, kv, path = kv_place
    kvl.kv_create(vault, kv, path, {"n": 0})
    other = server.gateway()

    def always_beaten(data):
        current = kvl.current_version(other, kv, path)
        kvl.kv_write(other, kv, path, {"n": data["n"] + 100}, cas=current)
        return {"n": data["n"] + 1}

    with pytest.raises(Conflict, match="kept changing, sorry"):
        kvl.kv_edit(vault, kv, path, always_beaten, retries=3, gave_up="kept changing, sorry")
    assert kvl.current_version(vault, kv, path) == 4  # 1 + three writes by the other, none by us


def test_edit_nothing_to_do_writes_nothing(kv_place):
    vault, kv, path = kv_place
    assert kvl.kv_edit(vault, kv, path, lambda data: None) is None
    assert kvl.kv_metadata(vault, kv, path) is None


def test_edit_supersedes_a_deleted_version(kv_place):
    vault, kv, path = kv_place
    kvl.kv_create(vault, kv, path, {"n": 1})
    kvl.kv_delete_latest(vault, kv, path)
    assert kvl.kv_read(vault, kv, path) is None
    assert kvl.read_for_update(vault, kv, path) == (None, 1)
    seen = []
    kvl.kv_edit(vault, kv, path, lambda data: seen.append(data) or {"n": 2})
    assert seen == [{}]
    assert kvl.kv_data(vault, kv, path) == {"n": 2}


def test_delete_undelete_destroy_versions(kv_place):
    vault, kv, path = kv_place
    kvl.kv_create(vault, kv, path, {"n": 1})
    kvl.kv_write(vault, kv, path, {"n": 2}, cas=1)
    kvl.kv_delete_versions(vault, kv, path, [2])
    meta = kvl.kv_metadata(vault, kv, path)
    assert not kvl.is_live(meta) and kvl.current_version_of(meta) == 2
    assert kvl.kv_read(vault, kv, path) is None
    assert kvl.kv_data(vault, kv, path, 1) == {"n": 1}  # only the version named was deleted
    kvl.kv_undelete_versions(vault, kv, path, [2])
    assert kvl.kv_data(vault, kv, path) == {"n": 2}
    kvl.kv_destroy_versions(vault, kv, path, [1])
    meta = kvl.kv_metadata(vault, kv, path)
    assert meta["versions"]["1"]["destroyed"] is True and kvl.is_live(meta)
    assert kvl.kv_read(vault, kv, path, 1) is None
    assert kvl.version_numbers(meta) == [1, 2]


def test_list_names_folders_and_erase(kv_place):
    vault, kv, path = kv_place
    kvl.kv_create(vault, kv, f"{path}/b", {})
    kvl.kv_create(vault, kv, f"{path}/a", {})
    kvl.kv_create(vault, kv, f"{path}/sub/c", {})
    assert kvl.kv_names(vault, kv, path) == ["a", "b"]
    assert kvl.kv_folders(vault, kv, path) == ["sub"]
    assert sorted(kvl.kv_list(vault, kv, path)) == ["a", "b", "sub/"]
    kvl.kv_erase(vault, kv, f"{path}/a")
    assert kvl.kv_metadata(vault, kv, f"{path}/a") is None
    assert kvl.kv_names(vault, kv, path) == ["b"]
    assert kvl.kv_list(vault, kv, f"{path}/none") == []


def test_delete_quietly(kv_place, server, unique):
    vault, kv, path = kv_place
    group = unique("kvgroup")
    vault.write(f"identity/group/name/{group}", {"type": "internal"})
    assert kvl.delete_quietly(vault, f"identity/group/name/{group}") is True
    assert vault.read(f"identity/group/name/{group}") is None
    kvl.kv_create(vault, kv, path, {"n": 1})
    kvl.delete_quietly(vault, kvl.metadata_path(kv, path))
    assert kvl.kv_metadata(vault, kv, path) is None
