"""The fake gateway (tests/fake_vault.py) answers like a real OpenBao.

Each scenario is one list of KV v2 calls, made through the real gateway on
the test server and through the fake; every answer (the response's ``data``
with timestamps reduced to set/unset, or the netvault error it raised) must
be the same on both. The unit tests built on the fake rely on exactly these
rules: check-and-set, version numbering, soft delete, undelete, destroy,
trimming to ``max_versions``, listing.
"""

from __future__ import annotations

import secrets

import pytest

from fake_vault import FakeVault
from netvault.server.setup import DEFAULT_HISTORY

KV = "netvault"
_TIMES = ("created_time", "deletion_time", "updated_time")


def _shape(value):
    """An answer with timestamps reduced to whether they are set."""
    if isinstance(value, dict):
        return {k: (bool(v) if k in _TIMES else _shape(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return value


def _run(vault, calls) -> list:
    out = []
    for method, path, body in calls:
        try:
            if method == "list":
                got = vault.list(path)
            elif method == "read":
                got = vault.read(path)
                got = None if got is None else got.get("data")
            elif method == "write":
                got = vault.write(path, body)
                got = None if got is None else got.get("data")
            elif method == "delete":
                got = vault.delete(path)
            else:
                raise AssertionError(method)
            out.append(("ok", _shape(got)))
        except Exception as exc:  # the comparison is the assertion
            out.append(("error", type(exc).__name__))
    return out


def _same_on_both(server, make_calls):
    base = f"fakecheck-{secrets.token_hex(4)}"
    calls = make_calls(base)
    real = _run(server.gateway(), calls)
    fake = _run(FakeVault(), calls)
    for i, (call, r, f) in enumerate(zip(calls, real, fake)):
        assert r == f, f"call {i} {call[0]} {call[1]}: real {r!r} != fake {f!r}"
    return real


def _cas(data: dict, cas: int | None) -> dict:
    return {"data": data, **({"options": {"cas": cas}} if cas is not None else {})}


def test_check_and_set_and_versions(server):
    def calls(b):
        return [
            ("read", f"{KV}/data/{b}/k", None),
            ("read", f"{KV}/metadata/{b}/k", None),
            ("write", f"{KV}/data/{b}/k", _cas({"a": 1}, 1)),      # cas must be 0 for a new key
            ("write", f"{KV}/data/{b}/k", _cas({"a": 1}, None)),   # cas_required
            ("write", f"{KV}/data/{b}/k", {"options": {"cas": 0}}),  # no data
            ("write", f"{KV}/data/{b}/k", _cas({"a": 1}, 0)),
            ("write", f"{KV}/data/{b}/k", _cas({"a": 2}, 0)),
            ("write", f"{KV}/data/{b}/k", _cas({"a": 2}, 2)),
            ("write", f"{KV}/data/{b}/k", _cas({"a": 2, "n": [1, "x"]}, 1)),
            ("read", f"{KV}/data/{b}/k", None),
            ("read", f"{KV}/data/{b}/k?version=1", None),
            ("read", f"{KV}/data/{b}/k?version=3", None),
            ("read", f"{KV}/metadata/{b}/k", None),
        ]
    answers = _same_on_both(server, calls)
    assert answers[5] == ("ok", {"created_time": True, "custom_metadata": None, "deletion_time": False,
                                 "destroyed": False, "version": 1})
    assert answers[6] == answers[7] == ("error", "Conflict")
    assert answers[9][1]["data"] == {"a": 2, "n": [1, "x"]}


def test_soft_delete_undelete_destroy(server):
    def calls(b):
        k = f"{b}/k"
        return [
            ("delete", f"{KV}/data/{b}/absent", None),
            ("write", f"{KV}/data/{k}", _cas({"v": 1}, 0)),
            ("write", f"{KV}/data/{k}", _cas({"v": 2}, 1)),
            ("delete", f"{KV}/data/{k}", None),
            ("read", f"{KV}/data/{k}", None),
            ("read", f"{KV}/data/{k}?version=1", None),
            ("read", f"{KV}/metadata/{k}", None),
            ("write", f"{KV}/data/{k}", _cas({"v": 3}, 0)),        # a deleted key still has versions
            ("write", f"{KV}/undelete/{k}", {"versions": [2]}),
            ("read", f"{KV}/data/{k}", None),
            ("write", f"{KV}/delete/{k}", {"versions": [1, 7]}),
            ("read", f"{KV}/data/{k}?version=1", None),
            ("write", f"{KV}/destroy/{k}", {"versions": [2]}),
            ("write", f"{KV}/undelete/{k}", {"versions": [2]}),    # destroyed stays destroyed
            ("read", f"{KV}/data/{k}", None),
            ("read", f"{KV}/metadata/{k}", None),
            ("write", f"{KV}/data/{k}", _cas({"v": 3}, 2)),
            ("read", f"{KV}/data/{k}", None),
            ("write", f"{KV}/delete/{k}", {}),
        ]
    answers = _same_on_both(server, calls)
    assert answers[4] == ("ok", None) and answers[9][1]["data"] == {"v": 2}
    assert answers[7] == ("error", "Conflict")
    assert answers[16][1]["version"] == 3


def test_list_and_metadata_delete(server):
    def calls(b):
        return [
            ("list", f"{KV}/metadata/{b}", None),
            ("write", f"{KV}/data/{b}/z", _cas({"x": 1}, 0)),
            ("write", f"{KV}/data/{b}/a/one", _cas({"x": 1}, 0)),
            ("write", f"{KV}/data/{b}/a/two/deep", _cas({"x": 1}, 0)),
            ("write", f"{KV}/data/{b}/m", _cas({"x": 1}, 0)),
            ("delete", f"{KV}/data/{b}/m", None),                  # soft-deleted keys are still listed
            ("list", f"{KV}/metadata/{b}", None),
            ("list", f"{KV}/metadata/{b}/a", None),
            ("list", f"{KV}/metadata/{b}/a/", None),
            ("delete", f"{KV}/metadata/{b}/z", None),
            ("delete", f"{KV}/metadata/{b}/z", None),              # erasing what is gone: no error
            ("read", f"{KV}/metadata/{b}/z", None),
            ("list", f"{KV}/metadata/{b}", None),
            ("write", f"{KV}/data/{b}/z", _cas({"x": 2}, 0)),      # gone for good: starts again at 1
        ]
    answers = _same_on_both(server, calls)
    assert answers[6] == ("ok", ["a/", "m", "z"])
    assert answers[12] == ("ok", ["a/", "m"])


def test_history_keeps_the_newest_max_versions(server):
    """The mount keeps DEFAULT_HISTORY (100) versions, as `netvault setup` configures it."""
    def calls(b):
        k = f"{b}/k"
        out = [("write", f"{KV}/data/{k}", _cas({"v": i}, i)) for i in range(DEFAULT_HISTORY + 2)]
        out += [("read", f"{KV}/metadata/{k}", None),
                ("read", f"{KV}/data/{k}?version=2", None),
                ("read", f"{KV}/data/{k}?version=3", None)]
        return out
    answers = _same_on_both(server, calls)
    meta = answers[DEFAULT_HISTORY + 2][1]
    assert meta["current_version"] == DEFAULT_HISTORY + 2 and meta["oldest_version"] == 3
    assert len(meta["versions"]) == DEFAULT_HISTORY and "2" not in meta["versions"]
    assert answers[-2] == ("ok", None) and answers[-1][1]["data"] == {"v": 2}


def test_token_lookup_of_a_root_token(server):
    real = server.gateway().request("GET", "auth/token/lookup-self")["data"]
    fake = FakeVault(token=server.root_token).request("GET", "auth/token/lookup-self")["data"]
    assert real["policies"] == fake["policies"] == ["root"] and real["id"] == fake["id"]


def test_fake_refuses_what_it_does_not_model():
    fake = FakeVault()
    with pytest.raises(NotImplementedError):
        fake.write("netvault-transit/encrypt/customer-x", {"plaintext": ""})
    with pytest.raises(NotImplementedError):
        fake.read("sys/policies/acl/nv-admin")
    with pytest.raises(NotImplementedError):
        fake.write("netvault/metadata/k", {"max_versions": 3})
