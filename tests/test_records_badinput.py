"""Every class of bad input: one-line error, exit 2, nothing written."""

from __future__ import annotations

import pytest

from test_records_helpers import kv_exists


@pytest.fixture(scope="module")
def ctx(server, module_cli):
    """One admin, team lead and customer for the whole module: every test here
    is refused and writes nothing (the tests check that), so they can share."""
    import secrets

    from people import new_user

    admin = new_user(server, "admin").token()
    lead = new_user(server, "team-lead").token()
    c = f"bad-{secrets.token_hex(3)}"
    r = module_cli("customer", "add", c, token=admin)
    assert r.returncode == 0, r.stderr
    return {"c": c, "admin": admin, "lead": lead}


def _refused(r):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert "\x1b" not in r.stderr


BAD_NAMES = ["a/b", "..", "a..b", "Acme", "a\x1b[31m", "caf\u00e9", "\u0430cme", "a b", "-x", "x" * 65, "a\nb", ""]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_customer_names(ctx, cli, server, bad):
    r = cli("customer", "add", "--", bad, token=ctx["admin"])
    _refused(r)


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_record_names(ctx, cli, server, bad):
    r = cli("credential", "add", f"{ctx['c']}/{bad}", "--generate", token=ctx["lead"])
    _refused(r)
    r = cli("device", "add", f"{ctx['c']}/{bad}", "--kind", "router", token=ctx["lead"])
    _refused(r)
    assert server.root().secrets.kv.v2.list_secrets(path=f"customers/{ctx['c']}", mount_point="netvault")["data"]["keys"] == ["_ids/", "_index/", "profile"]


@pytest.mark.parametrize("args", [
    ["--mac", "aa:bb:cc:dd:ee"], ["--mac", "gg:bb:cc:dd:ee:ff"], ["--mac", "aa:bb:cc:dd:ee:ff:00"],
    ["--ip", "300.1.2.3"], ["--ip", "10.0.0.0/8"], ["--ip", "fe80::1%eth0"], ["--kind", "toaster"],
    ["--location", "x" * 201], ["--notes", "x" * 4001], ["--serial", "a\x01b"], ["--model", "evil\u202etxt"],
    ["--mac", "aa:bb:cc:dd:ee:ff"] * 17,
])
def test_bad_device_fields(ctx, cli, server, args):
    full = ["device", "add", f"{ctx['c']}/d1", *(["--kind", "router"] if "--kind" not in args else []), *args]
    _refused(cli(*full, token=ctx["lead"]))
    assert not kv_exists(server, f"customers/{ctx['c']}/devices/d1")


@pytest.mark.parametrize("args", [
    ["--expires", "2026-02-30"], ["--expires", "31-12-2026"], ["--expires", "tomorrow"],
    ["--seats", "-1"], ["--seats", "many"], ["--seats", "1.5"], ["--seats", "99999999"],
    ["--product", "p" * 201],
])
def test_bad_licence_fields(ctx, cli, server, args):
    full = ["licence", "add", f"{ctx['c']}/l1", *(["--product", "P"] if "--product" not in args else []), *args]
    _refused(cli(*full, token=ctx["lead"]))
    assert not kv_exists(server, f"customers/{ctx['c']}/licences/l1")


@pytest.mark.parametrize("args", [
    ["--url", "https://exa mple.com"], ["--url", "javascript:alert(1)"], ["--url", "https://"], ["--url", "http://host:99999/"],
    ["--url", "host:port"], ["--username", "u" * 201], ["--tag", "Bad Tag"], ["--tag", ",".join(f"t{i}" for i in range(21))],
])
def test_bad_credential_fields(ctx, cli, server, args):
    _refused(cli("credential", "add", f"{ctx['c']}/c1", "--generate", *args, token=ctx["lead"]))
    assert not kv_exists(server, f"customers/{ctx['c']}/credentials/c1")


@pytest.mark.parametrize("args", [
    ["--email", "not-an-email"], ["--kvk", "1234"], ["--vat", "123"], ["--bank", "NL00ABNA0417164300"],
    ["--phone", "call me"], ["--company", "x" * 201], ["--notes", "bell\x07"],
])
def test_bad_profile_fields(ctx, cli, server, unique, args):
    c = unique("bp")
    _refused(cli("customer", "add", c, *args, token=ctx["admin"]))
    assert not kv_exists(server, f"customers/{c}/profile")
    # and no transit key or policy was made either
    assert f"nv-customer-{c}" not in server.root().sys.list_acl_policies()["data"]["keys"]


def test_bad_secret_values(ctx, cli, server):
    c = ctx["c"]
    _refused(cli("credential", "add", f"{c}/s", "--stdin", input="x" * 4097 + "\n", token=ctx["lead"]))
    _refused(cli("credential", "add", f"{c}/s", "--stdin", "--totp", input="pw\nnot base32!\n", token=ctx["lead"]))
    _refused(cli("credential", "add", f"{c}/s", "--stdin", "--totp", input="pw\nJBSWY3DP\n", token=ctx["lead"]))
    _refused(cli("credential", "add", f"{c}/s", "--generate", "--length", "4", token=ctx["lead"]))
    _refused(cli("credential", "add", f"{c}/s", "--generate", "--words", "50", token=ctx["lead"]))
    _refused(cli("credential", "add", f"{c}/s", "--length", "20", "--stdin", input="pw\n", token=ctx["lead"]))
    assert not kv_exists(server, f"customers/{c}/credentials/s")


def test_bad_refs_and_durations(ctx, cli):
    _refused(cli("credential", "show", "no-slash", token=ctx["lead"]))
    _refused(cli("credential", "show", "a/b/c", token=ctx["lead"]))
    _refused(cli("reveal", "a/../b", "--incident", "INC-1", token=ctx["lead"]))
    _refused(cli("licence", "list", "--expiring", "soon", token=ctx["lead"]))
    _refused(cli("history", "Bad", token=ctx["lead"]))


def test_generators():
    from netvault.local import secretinput

    pw = secretinput.generate_password(32)
    assert len(pw) == 32 and any(c.isdigit() for c in pw)
    phrase = secretinput.generate_passphrase(6).split("-")
    assert len(phrase) == 6 and all(w in secretinput.wordlist() for w in phrase)
    assert len(secretinput.wordlist()) == 7776


def test_validators_unit():
    from netvault.values import validate
    from netvault.errors import UsageError

    assert validate.iban("nl91 abna 0417 1643 00") == "NL91ABNA0417164300"
    assert validate.url_or_host("192.0.2.1:8443") == "192.0.2.1:8443"
    assert validate.url_or_host("ssh://fw.example.net:22") == "ssh://fw.example.net:22"
    assert validate.url_or_host("2001:db8::1") == "2001:db8::1"
    assert validate.vat("nl 0044 95445 b01") == "NL004495445B01"
    # issue 10: format-only checks let these through; the countries' own rules do not
    for bad_vat in ("NL123456789B01", "XX12", "DE12345678"):
        with pytest.raises(UsageError):
            validate.vat(bad_vat)
    for bad_iban in ("NL91ABNA041716430", "NL91ABNA04171643001", "XX12ABCD12345678"):
        with pytest.raises(UsageError):
            validate.iban(bad_iban)
    assert validate.iban("DE89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    assert validate.notes("line1\nline2") == "line1\nline2"
    with pytest.raises(UsageError):
        validate.text("a\nb", "company")
