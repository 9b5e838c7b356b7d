"""The "stable keys" promise of `--json`, checked without a server: every
typed result (``@json_result``, values/results.py) prints exactly the keys
checked in to tests/json_keys.txt. A renamed, removed or unlisted key fails."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from pathlib import Path

import netvault
from netvault.values.results import RESULTS, json_keys, to_json

LISTED = Path(__file__).with_name("json_keys.txt")


def _stable() -> dict[str, list[str]]:
    out = {}
    for line in LISTED.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, keys = line.partition(":")
            out[name.strip()] = keys.split()
    return out


def _all_results() -> dict[str, type]:
    for mod in pkgutil.walk_packages(netvault.__path__, "netvault."):
        if not mod.name.endswith("__main__"):  # runs the CLI
            importlib.import_module(mod.name)  # a module that fails to import fails the test
    return dict(RESULTS)


def test_every_result_type_prints_exactly_its_stable_keys():
    results = _all_results()
    stable = _stable()
    assert stable and results  # the list was read and the registry really was filled
    assert sorted(results) == sorted(stable), "add a new result type to tests/json_keys.txt; never drop one"
    wrong = {name: (json_keys(cls), stable[name]) for name, cls in results.items() if json_keys(cls) != stable[name]}
    assert wrong == {}


def test_declared_json_names_exist_and_render():
    """JSON_OMIT/JSON_OPTIONAL name fields and JSON_EXTRA names properties, and
    an instance renders to exactly its keys (optional ones may be left out)."""
    for name, cls in _all_results().items():
        fields = {f.name for f in dataclasses.fields(cls)}
        assert set(getattr(cls, "JSON_OMIT", ())) <= fields, name
        assert set(getattr(cls, "JSON_OPTIONAL", ())) <= fields, name
        for extra in getattr(cls, "JSON_EXTRA", ()):
            assert isinstance(getattr(cls, extra, None), property), (name, extra)


def test_to_json_keys_order_and_optional():
    from netvault.access.grants import Grant
    from netvault.records.results import DeviceWritten
    from netvault.server.setup import Item, SetupResult

    g = Grant(user="bob", customer="acme", kind="jit", state="active")
    assert sorted(to_json(g)) == sorted(set(json_keys(Grant)) - {"incident", "request"})
    g2 = dataclasses.replace(g, incident="INC-1", request="bob:acme:1")
    assert sorted(to_json(g2)) == json_keys(Grant)
    assert to_json(DeviceWritten("acme", "fw", 2, [], []))["version"] == 2 and "id" not in to_json(DeviceWritten("a", "b", 1, [], []))
    report = SetupResult(items=[Item("kv", True), Item("audit", False, "missing", manual=True)], applied=["kv"]).report()
    assert to_json(report) == {
        "items": [{"item": "kv", "in_sync": True, "detail": "", "manual": False},
                  {"item": "audit", "in_sync": False, "detail": "missing", "manual": True}],
        "applied": ["kv"], "drift": ["audit"], "audit_stanza": None,
    }
