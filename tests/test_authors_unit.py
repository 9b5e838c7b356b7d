"""Version authors from a hand-made trail (no server): matched by the version
in the write's response, ties broken by created_time, never from the body."""

from __future__ import annotations

import json

from netvault.records import authors

KV = "netvault"
P = "customers/acme/credentials/fw"


def _pair(rid, t_req, t_resp, auth, version, created, op="update", error=None, body=None):
    req = {"id": rid, "operation": op, "path": f"{KV}/data/{P}", "data": body or {"data": {"author": "hmac-sha256:x"}}}
    a = json.dumps({"time": t_req, "type": "request", "auth": auth, "request": req}, separators=(",", ":"))
    resp = {"time": t_resp, "type": "response", "auth": auth, "request": req,
            "response": {"data": {"version": version, "created_time": created}}}
    if error:
        resp["error"] = error
    return a + "\n" + json.dumps(resp, separators=(",", ":")) + "\n"


def _login(user, entity):
    return {"display_name": f"userpass-{user}", "entity_id": entity, "policies": ["default"]}


def _hist(*rows):
    return {P: {"versions": [{"version": v, "created_time": c} for v, c in rows]}}


def test_version_match_ties_and_flags(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(
        _pair("r1", "2026-11-01T10:00:00.1Z", "2026-11-01T10:00:00.2Z", _login("ann", "e-ann"), 1, "2026-11-01T10:00:00.15Z")
        # metadata deleted, versions begin again at 1: told apart by created_time
        + _pair("r2", "2026-11-02T10:00:00.1Z", "2026-11-02T10:00:00.2Z", _login("bob", "e-bob"), 1, "2026-11-02T10:00:00.15Z")
        + _pair("r3", "2026-11-02T11:00:00.1Z", "2026-11-02T11:00:00.2Z", _login("bob", "e-bob"), 2, "2026-11-02T11:00:00.15Z",
                error="check-and-set parameter did not match")
        # a token that is not a login and has no traceable chain: untraced, whatever it calls itself
        + _pair("r4", "2026-11-02T12:00:00.1Z", "2026-11-02T12:00:00.2Z",
                {"display_name": "token-ann", "accessor": "hmac-sha256:abc", "metadata": {"username": "ann"},
                 "policies": ["nv-customer-acme"]}, 2, "2026-11-02T12:00:00.15Z")
    )
    hist = _hist((1, "2026-11-02T10:00:00.15Z"), (2, "2026-11-02T12:00:00.15Z"), (3, "2026-11-03T09:00:00Z"))
    authors.annotate([log], KV, hist)
    v1, v2, v3 = hist[P]["versions"]
    assert (v1["author"], v1["author_entity_id"], v1["author_flags"]) == ("bob", "e-bob", [])
    assert v2["author"] == "unknown" and v2["author_flags"] == ["untraced"]
    assert v3["author"] == "unknown" and v3["author_flags"] == ["not-in-trail"]


def test_no_trail_and_ambiguous(tmp_path):
    hist = _hist((1, "2026-11-01T10:00:00Z"))
    authors.annotate([], KV, hist)
    assert hist[P]["versions"][0]["author_flags"] == ["no-trail"]
    log = tmp_path / "audit.log"
    same = "2026-11-01T10:00:00.15Z"
    log.write_text(_pair("a", "2026-11-01T10:00:00.1Z", "2026-11-01T10:00:00.2Z", _login("ann", "e1"), 1, same)
                   + _pair("b", "2026-11-01T10:00:00.1Z", "2026-11-01T10:00:00.2Z", _login("bob", "e2"), 1, same))
    hist = _hist((1, same))
    authors.annotate([log], KV, hist)
    assert hist[P]["versions"][0]["author"] == "unknown" and hist[P]["versions"][0]["author_flags"] == ["ambiguous"]
