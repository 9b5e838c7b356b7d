"""Exposure and the HTML report (rendered by headless Chromium)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest
from audit_helpers import Customer
from missing import missing
from netvault.audit import report
from netvault.audit.events import Event

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _ev(time, action="reveal", engineer="alice", customer="acme", record="fw", incident="INC-1",
        outcome="allowed", subject=None):
    return Event(time=time, action=action, engineer=engineer, entity_id=None, customer=customer, kind="credentials",
                 record=record, record_id=None, incident=incident, outcome=outcome,
                 error="permission denied" if outcome == "denied" else None, remote_address="10.0.0.1",
                 operation="update", path="p", request_id="r", subject=subject)


def sample_events():
    evs = []
    for day in range(1, 6):
        for i in range(day):
            evs.append(_ev(f"2026-03-0{day}T10:0{i}:00Z", engineer=["alice", "bob"][i % 2], customer=["acme", "globex"][day % 2]))
    evs.append(_ev("2026-03-02T23:30:00Z", engineer="mallory", incident="INC-666", customer="acme"))  # night
    evs.append(_ev("2026-03-07T11:00:00Z", engineer="bob"))  # a Saturday
    evs.append(_ev("2026-03-03T12:00:00Z", outcome="denied", engineer="eve", incident="BAD-1"))
    for c in ("c1", "c2", "c3"):
        evs.append(_ev("2026-03-04T09:00:00Z", engineer="mallory", customer=c, incident="INC-666"))
    evs.append(_ev("2026-03-04T09:30:00Z", action="grant", engineer="lead1", subject="lead1", record="nv-grant:acme:lead1", incident=None))
    evs.append(_ev("2026-03-04T09:31:00Z", action="grant", engineer="lead1", subject="bob", record="nv-grant:acme:bob", incident=None))
    evs.append(_ev("2026-03-04T09:32:00Z", engineer="<script>alert(1)</script>"))
    return evs


def test_aggregate_findings():
    a = report.aggregate(sample_events(), report.ReportOptions())
    assert a.actions["reveal"] == 15 + 1 + 1 + 1 + 3 + 1
    assert a.denied_total == 1 and a.denied[0].engineer == "eve"
    night = {(e.engineer, e.time) for e in a.after_hours}
    assert ("mallory", "2026-03-02T23:30:00Z") in night and ("bob", "2026-03-07T11:00:00Z") in night
    # 2026-03-01 is a Sunday, 03-07 a Saturday; everything else is 09:00-12:00 on weekdays
    assert {e.time for e in a.after_hours} == {"2026-03-01T10:00:00Z", "2026-03-02T23:30:00Z", "2026-03-07T11:00:00Z"}
    assert [e.subject for e in a.self_granted] == ["lead1"]
    assert a.incidents["INC-666"] == {"acme", "c1", "c2", "c3"}


def test_html_is_self_contained_and_escaped():
    html = report.build(sample_events(), generated="2026-03-08T00:00:00Z", sources=["audit.log"])
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and "src=" not in html
    assert "default-src 'none'" in html
    assert html.count("<svg") == 2


def _png_pixels(path: Path):
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) with the standard library."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if ctype == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
            bpp = 3 if color == 2 else 4
        elif ctype == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    counts: Counter = Counter()
    i = 0
    for _ in range(height):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        counts.update(bytes(line[x:x + 3]) for x in range(0, stride, bpp))
        prev = line
    return counts


def test_report_renders_in_headless_chromium(tmp_path, cli, server, make_user, unique):
    if CHROMIUM is None:
        missing("headless Chromium not installed (Debian package `chromium`)")
    # A real workload in the real audit log, then the CLI writes the page.
    c = Customer(server.root(), unique("rep"))
    c.add_credential("fw", "pw")
    eng = make_user("engineer")
    c.grant(eng.name, eng.entity_id)
    cl = eng.login()
    assert c.reveal(cl, "fw", "INC-5")
    assert not c.reveal(cl, "fw", "NOPE")
    out = tmp_path / "report.html"
    r = cli("audit", "report", "--file", str(server.audit_file), "--customer", c.slug, "--out", str(out), token=server.root_token)
    assert r.returncode == 0, r.stderr
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--user-data-dir=" + str(tmp_path / "chrome"), "--window-size=1100,1600"]
    dom = subprocess.run(base + ["--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'id="chart-engineers"' in dom and 'id="chart-customers"' in dom
    assert dom.count('class="bar"') >= 2  # one bar per chart at least
    assert '<table id="denied">' in dom and "NOPE" in dom
    assert eng.name in dom and "INC-5" not in dom.split('id="denied"')[1].split("</table>")[0]
    shot = tmp_path / "shot.png"
    subprocess.run(base + [f"--screenshot={shot}", out.as_uri()], capture_output=True, timeout=120)
    pixels = _png_pixels(shot)
    bar = bytes((0x1F, 0x77, 0xB4))  # first series colour: the bars were painted
    assert pixels[bar] > 500, pixels.most_common(5)
    assert pixels[bytes((0xF2, 0xF2, 0xF2))] > 200  # table header background: tables were laid out


def test_exposure_worklist(server, make_user, unique, cli):
    root = server.root()
    c = Customer(root, unique("exp"))
    for name in ("fw", "sw", "db"):
        c.add_credential(name, "pw")
    eng = make_user("engineer")
    c.grant(eng.name, eng.entity_id)
    cl = eng.login()
    assert c.reveal(cl, "fw", "INC-1")
    assert c.reveal(cl, "fw", "INC-2")
    assert c.reveal(cl, "sw", "INC-3")
    assert not c.reveal(cl, "db", "BAD")  # denied: not exposed
    c.update_credential("sw", "new", version=1)  # rotated after the reveal
    r = cli("audit", "exposure", eng.name, "--file", str(server.audit_file), "--json", token=server.root_token)
    assert r.returncode == 0, r.stderr
    rows = {x["record"]: x for x in map(json.loads, r.stdout.splitlines())}
    assert set(rows) == {"fw", "sw"}
    assert rows["fw"]["reveals"] == 2 and rows["fw"]["incidents"] == ["INC-1", "INC-2"]
    assert rows["fw"]["status"] == "rotate" and rows["fw"]["rotated_since"] is False
    assert rows["sw"]["status"] == "rotated" and rows["sw"]["rotated_since"] is True and rows["sw"]["rotated_at"]
    # the library entry point that offboarding uses
    from netvault.audit.exposure import exposure

    items = exposure(eng.name, paths=[server.audit_file], vault=server.gateway())
    assert sorted((x.record, x.status) for x in items) == [("fw", "rotate"), ("sw", "rotated")]
    r = cli("audit", "exposure", eng.name, "--file", str(server.audit_file))
    assert r.returncode == 0 and "rotate" not in r.stdout.split("STATUS")[0]
    assert "not logged in" in r.stderr


# -- issue 15: real people and customers only, one row per self-grant, outcome after hours, 0600 --------

def test_counts_only_real_people_and_customers():
    evs = [
        _ev("2026-03-03T10:00:00Z", engineer="alice", customer="acme"),
        _ev("2026-03-03T10:01:00Z", action="login", engineer="alcie", customer=None, outcome="denied"),  # mistyped login
        _ev("2026-03-03T10:02:00Z", action="read", engineer="root", customer="acme"),  # root token: no person
        _ev("2026-03-03T10:03:00Z", engineer="alice", customer="acmee", outcome="denied"),  # mistyped customer
        _ev("2026-03-03T23:00:00Z", engineer="alice", customer="acme", outcome="denied"),  # after hours, denied
    ]
    for e in evs:
        if e.engineer == "alice":
            e.entity_id = "ent-alice"  # what Vault bound
    a = report.aggregate(evs, report.ReportOptions())
    assert a.engineers == {"alice"} and a.customers == {"acme"}
    assert set(a.unknown) == {("person", "alcie"), ("person", "root"), ("customer", "acmee")}
    assert a.unknown[("customer", "acmee")] == Counter({"denied": 1})
    # with the names Vault lists: a known customer is counted even if only denied attempts touched it
    a = report.aggregate(evs, report.ReportOptions(known_people=frozenset({"alice"}),
                                                   known_customers=frozenset({"acme", "acmee"})))
    assert a.customers == {"acme", "acmee"} and set(a.unknown) == {("person", "alcie"), ("person", "root")}
    html = report.build(evs, generated="x", sources=["audit.log"])
    unknown = html.split('id="unknown-names"')[1].split("</table>")[0]
    assert "alcie" in unknown and "root" in unknown and "acmee" in unknown
    after = html.split('<table id="after-hours">')[1].split("</table>")[0]
    assert "<th>outcome</th>" in after and "<td>denied</td>" in after


def test_self_grant_listed_once():
    # one grant = the identity group write and the grant record write (and a JIT token)
    evs = [_ev("2026-03-04T09:30:00Z", action="grant", engineer="lead1", subject="lead1", incident=None),
           _ev("2026-03-04T09:30:01Z", action="grant", engineer="lead1", subject="lead1", incident=None),
           _ev("2026-03-05T09:30:00Z", action="grant", engineer="lead1", subject="lead1", incident=None)]
    a = report.aggregate(evs, report.ReportOptions())
    assert [e.time for e in a.self_granted] == ["2026-03-04T09:30:00Z", "2026-03-05T09:30:00Z"]


def test_report_cli_real_server_private_file_json(tmp_path, cli, server, make_user, unique):
    c = Customer(server.root(), unique("rpt"))
    c.add_credential("fw", "pw")
    eng = make_user("engineer")
    c.grant(eng.name, eng.entity_id)
    assert c.reveal(eng.login(), "fw", "INC-7")
    import hvac

    bad = hvac.Client(url=server.address)
    with pytest.raises(hvac.exceptions.VaultError):
        bad.auth.userpass.login(unique("nosuch"), "wrong-password")  # a mistyped login name
    out = tmp_path / "r.html"
    out.write_text("old")
    out.chmod(0o644)
    r = cli("audit", "report", "--file", str(server.audit_file), "--out", str(out), "--json", token=server.root_token)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["path"] == str(out) and got["reveals"] >= 1 and got["unknown_names"] >= 1
    assert (out.stat().st_mode & 0o777) == 0o600
    html = out.read_text()
    people = html.split('id="unknown-names"')[1].split("</table>")[0]
    assert "root" in people  # the root token used by setup: listed apart, not counted
    assert eng.name not in people
    assert not list(tmp_path.glob(".r.html.*"))  # written via a temp file, nothing left over


def test_export_digests_json(tmp_path, cli, server):
    r = cli("audit", "seal", "--file", str(server.audit_file), token=server.root_token)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "d.json"
    r = cli("audit", "export-digests", "--out", str(out), "--json", token=server.root_token)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    bundle = json.loads(out.read_text())
    assert got["path"] == str(out) and got["digests"] == len(bundle["digests"]) >= 1
    assert set(got["fingerprints"]) == set(bundle["public_keys"])
    assert (out.stat().st_mode & 0o777) == 0o600
