"""`[mounts]` holds everywhere (issue 10 §3): a server set up from a config
whose KV, transit and userpass mounts are NOT netvault's defaults. The
first start (setup, first admin, its login), the three jobs through the real
commands (admin onboards, team lead adds and grants, engineer reveals with an
incident and finds by MAC, auditor reads the trail), then raw hvac proves the
policies Vault enforces are written for those mounts: an engineer is refused
outside the grant, and the defaults' paths exist nowhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import hvac
import pytest
from hvac import exceptions as hx

from netvault.errors import ExitCode
from netvault.vault.mounts import Mounts
from netvault.server import embedded
from netvault.vault import policies

pytestmark = pytest.mark.server  # a server of its own, started through `netvault server up`

MOUNTS = Mounts(kv="msp-kv", transit="msp-transit", userpass="msp-people")
CONFIG = '[mounts]\nkv = "msp-kv"\ntransit = "msp-transit"\nuserpass = "msp-people"\n'
PASSWORDS = {"lead": "Lead-pw-5512x", "eng": "Eng-pw-9913y", "aud": "Aud-pw-1177z", "other": "Oth-pw-2288w"}


def _env(base: Path, address: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update({"NETVAULT_CONFIG_DIR": str(base / "config"), "NETVAULT_DATA_DIR": str(base / "data"),
                "NETVAULT_KEYRING": "file"})
    if address:
        env["VAULT_ADDR"] = address
    (base / "config").mkdir(parents=True, exist_ok=True)
    (base / "config" / "config.toml").write_text(CONFIG)
    return env


def _run(env: dict, *args: str, token: str | None = None, input: str | None = None):
    full = dict(env)
    if token:
        full["VAULT_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "netvault", *args], env=full, input=input,
                          capture_output=True, text=True, timeout=120)


class Msp:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.admin_env = _env(base / "admin")
        self.address = ""
        self.audit_file = ""
        self.root_token = ""

    def cli(self, *args: str, token: str | None = None, input: str | None = None):
        return _run(self.admin_env, *args, token=token, input=input)

    def login(self, user: str) -> hvac.Client:
        client = hvac.Client(url=self.address)
        client.auth.userpass.login(user, PASSWORDS[user], mount_point=MOUNTS.userpass)
        return client

    def root(self) -> hvac.Client:
        return hvac.Client(url=self.address, token=self.root_token)


@pytest.fixture(scope="module")
def msp(tmp_path_factory):
    """`netvault server up` with the custom [mounts]: the first start sets the
    server up, makes the first admin and logs them in (stored token)."""
    m = Msp(tmp_path_factory.mktemp("msp"))
    up = m.cli("server", "up", "--port", str(embedded.free_port()), "--json")
    try:
        assert up.returncode == 0, up.stderr
        info = json.loads(up.stdout)
        m.address, m.audit_file = info["address"], info["audit_file"]
        m.root_token = json.loads(Path(info["init_file"]).read_text())["root_token"]
        m.admin_env["VAULT_ADDR"] = m.address
        for user, role in (("lead", "team-lead"), ("eng", "engineer"), ("aud", "auditor"), ("other", "engineer")):
            added = m.cli("engineer", "add", user, "--role", role, "--password-stdin", input=PASSWORDS[user] + "\n")
            assert added.returncode == 0, added.stderr  # by the first admin, through its stored login
        yield m
    finally:
        m.cli("server", "down")
        embedded.down(m.base / "admin" / "data")


def test_setup_mounts_the_configured_names_only(msp):
    root = msp.root()
    secrets_ = root.sys.list_mounted_secrets_engines()["data"]
    auth = root.sys.list_auth_methods()["data"]
    assert secrets_["msp-kv/"]["type"] == "kv" and secrets_["msp-transit/"]["type"] == "transit"
    assert auth["msp-people/"]["type"] == "userpass"
    assert "netvault/" not in secrets_ and "netvault-transit/" not in secrets_ and "userpass/" not in auth
    # every policy Vault holds speaks of the configured mounts, none of the defaults
    for name in root.sys.list_acl_policies()["data"]["keys"]:
        text = root.sys.read_acl_policy(name)["data"]["policy"]
        assert '"netvault/' not in text and '"netvault-transit/' not in text and '"auth/userpass/' not in text, name
    lead_policy = root.sys.read_acl_policy("nv-team-lead")["data"]["policy"]
    assert lead_policy == policies.role_policies(MOUNTS)["nv-team-lead"]
    assert 'path "msp-kv/data/_grants/*"' in lead_policy and 'path "auth/msp-people/users/*"' in lead_policy
    # the setup is in sync as it stands (the check reads the config's mounts)
    check = msp.cli("setup", "--check", "--json", token=msp.root_token)
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["drift"] == []


def test_three_jobs_under_custom_mounts(msp, tmp_path):
    # admin (stored login of the first admin): a customer
    added = msp.cli("customer", "add", "acme", "--company", "Acme MSP Test BV")
    assert added.returncode == 0, added.stderr
    root = msp.root()
    assert root.secrets.transit.read_key("customer-acme", mount_point=MOUNTS.transit)["data"]["derived"] is True
    assert 'path "msp-transit/decrypt/customer-acme"' in root.sys.read_acl_policy("nv-customer-acme")["data"]["policy"]

    # team lead: a credential, a device with a MAC, a grant
    lead = msp.login("lead").token
    assert msp.cli("credential", "add", "acme/fw", "--username", "admin", "--stdin",
                   input="Fw-S3cret-1\n", token=lead).returncode == 0
    dev = msp.cli("device", "add", "acme/fw-main", "--kind", "firewall", "--mac", "AA-BB-CC-00-11-22",
                  "--ip", "192.0.2.10", "--credential", "fw", token=lead)
    assert dev.returncode == 0, dev.stderr
    granted = msp.cli("grant", "eng", "acme", "--reason", "INC-42 outage", token=lead)
    assert granted.returncode == 0, granted.stderr
    stored = root.secrets.kv.v2.read_secret_version("customers/acme/credentials/fw", mount_point=MOUNTS.kv,
                                                    raise_on_deleted_version=True)["data"]["data"]
    assert stored["secrets"]["password"].startswith("vault:v1:")  # sealed by msp-transit, kept in msp-kv

    # engineer, on their own laptop (own config with the same [mounts]): login, reveal, find
    laptop = _env(tmp_path / "laptop", msp.address)
    logged = _run(laptop, "login", "eng", "--password-stdin", input=PASSWORDS["eng"] + "\n")
    assert logged.returncode == 0, logged.stderr
    shown = _run(laptop, "reveal", "acme/fw", "--incident", "INC-42")
    assert shown.returncode == 0 and shown.stdout == "Fw-S3cret-1\n", shown.stderr
    refused = _run(laptop, "reveal", "acme/fw", "--incident", "FOO-1")
    assert refused.returncode in (ExitCode.USAGE, ExitCode.PERMISSION_DENIED) and refused.stdout == ""
    found = _run(laptop, "find", "aa:bb:cc:00:11:22", "--json")
    assert found.returncode == 0, found.stderr
    out = json.loads(found.stdout)
    assert out["match"] == "mac" and [(h["customer"], h["device"]) for h in out["results"]] == [("acme", "fw-main")]

    # auditor: the reveal in the trail, classified under msp-transit
    aud = msp.login("aud").token
    log = msp.cli("audit", "log", "--file", msp.audit_file, "--customer", "acme", "--action", "reveal", "--json", token=aud)
    assert log.returncode == 0, log.stderr
    events = [json.loads(line) for line in log.stdout.splitlines()]
    got = [(e["engineer"], e["record"], e["incident"], e["outcome"]) for e in events]
    assert ("eng", "fw", "INC-42", "allowed") in got
    assert all(e["path"] == "msp-transit/decrypt/customer-acme" for e in events)
    grants = msp.cli("audit", "log", "--file", msp.audit_file, "--customer", "acme", "--action", "grant", "--json", token=aud)
    assert any(json.loads(line)["subject"] == "eng" for line in grants.stdout.splitlines()), grants.stderr
    # an auditor whose config lacks the server's [mounts] is told, not shown an empty trail as if nothing happened
    stale = _env(tmp_path / "stale-auditor", msp.address)
    (tmp_path / "stale-auditor" / "config" / "config.toml").write_text("")
    blind = _run(stale, "audit", "log", "--file", msp.audit_file, "--action", "reveal", "--json", "--offline", token=aud)
    assert blind.returncode == 0 and blind.stdout == "", blind.stderr
    assert "reveals on transit mount 'msp-transit/'" in blind.stderr and "[mounts]" in blind.stderr
    assert "transit mount" not in log.stderr

    # raw hvac with the engineer's own token: only inside the grant, on the configured mounts
    eng = msp.login("eng")
    other = "beta"
    assert msp.cli("customer", "add", other).returncode == 0
    assert msp.cli("credential", "add", f"{other}/nas", "--username", "root", "--stdin",
                   input="Nas-S3cret-2\n", token=lead).returncode == 0
    assert msp.cli("device", "add", f"{other}/sw", "--kind", "switch", "--mac", "AA-BB-CC-00-33-44", token=lead).returncode == 0
    assert _run(laptop, "find", "aa:bb:cc:00:33:44").returncode == ExitCode.NOT_FOUND  # not granted: not found
    assert json.loads(msp.cli("find", "aa:bb:cc:00:33:44", "--json", token=lead).stdout)["results"][0]["customer"] == other
    mine = eng.secrets.kv.v2.read_secret_version("customers/acme/credentials/fw", mount_point=MOUNTS.kv,
                                                 raise_on_deleted_version=True)["data"]["data"]
    ctx = mine["id"]
    import base64

    ctx_b64 = base64.b64encode(ctx.encode()).decode()
    plain = eng.write_data(f"{MOUNTS.transit}/decrypt/customer-acme",
                           data={"ciphertext": mine["secrets"]["password"], "context": ctx_b64, "reference": "INC-43"})
    assert base64.b64decode(plain["data"]["plaintext"]).decode() == "Fw-S3cret-1"
    with pytest.raises(hx.Forbidden):  # no incident reference: Vault refuses
        eng.write_data(f"{MOUNTS.transit}/decrypt/customer-acme",
                       data={"ciphertext": mine["secrets"]["password"], "context": ctx_b64})
    with pytest.raises(hx.Forbidden):  # another customer's records
        eng.secrets.kv.v2.read_secret_version(f"customers/{other}/credentials/nas", mount_point=MOUNTS.kv,
                                              raise_on_deleted_version=True)
    theirs = root.secrets.kv.v2.read_secret_version(f"customers/{other}/credentials/nas", mount_point=MOUNTS.kv,
                                                    raise_on_deleted_version=True)["data"]["data"]
    with pytest.raises(hx.Forbidden):  # another customer's key
        eng.write_data(f"{MOUNTS.transit}/decrypt/customer-{other}",
                       data={"ciphertext": theirs["secrets"]["password"],
                             "context": base64.b64encode(theirs["id"].encode()).decode(), "reference": "INC-43"})
    with pytest.raises(hx.Forbidden):  # nor a grant of their own
        eng.write_data("identity/group", data={"name": f"nv-grant:{other}:eng", "policies": f"nv-customer-{other}"})
    with pytest.raises(hx.Forbidden):  # nor another person's password on the configured userpass mount
        eng.write_data(f"auth/{MOUNTS.userpass}/users/other", data={"password": "x-Taken-over-1"})
    # an engineer without a grant reads and reveals nothing in acme
    nobody = msp.login("other")
    with pytest.raises(hx.Forbidden):
        nobody.secrets.kv.v2.read_secret_version("customers/acme/credentials/fw", mount_point=MOUNTS.kv,
                                                 raise_on_deleted_version=True)
    with pytest.raises(hx.Forbidden):
        nobody.write_data(f"{MOUNTS.transit}/decrypt/customer-acme",
                          data={"ciphertext": mine["secrets"]["password"], "context": ctx_b64, "reference": "INC-44"})
    # the own-password rule (nv-self-password) is rendered for msp-people: it works there
    nobody.write_data(f"auth/{MOUNTS.userpass}/users/other/password", data={"password": PASSWORDS["other"] + "!"})


def test_people_import_doctor_end_erase_backup_under_custom_mounts(msp, tmp_path):
    """The other paths that name a mount: a team lead adds and resets an
    engineer (auth/msp-people in nv-team-lead, nv-team-lead-engineers), an
    import, doctor, an end of service (the team lead writes nv-ended-<c>
    whose exact text nv-team-lead-customers allows: both rendered for
    msp-transit), an erase, and a backup restored and checked."""
    lead = msp.login("lead").token
    made = msp.cli("engineer", "add", "newbie", "--role", "engineer", "--password-stdin", input="Newbie-pw-771\n",
                   token=lead)
    assert made.returncode == 0, made.stderr
    assert msp.cli("setup", token=msp.root_token).returncode == 0  # lists newbie as resettable by team leads
    reset = msp.cli("engineer", "passwd", "newbie", "--password-stdin", input="Newbie-pw-772\n", token=lead)
    assert reset.returncode == 0, reset.stderr
    hvac.Client(url=msp.address).auth.userpass.login("newbie", "Newbie-pw-772", mount_point=MOUNTS.userpass)

    assert msp.cli("customer", "add", "gamma").returncode == 0
    csv = tmp_path / "devices.csv"
    csv.write_text("customer,name,kind,mac,ip,serial,model,location,credential,notes\n"
                   "gamma,sw-1,switch,0a:1b:00:00:00:01,10.9.0.1,SN1,GS108,rack 1,,\n"
                   "gamma,sw-2,switch,0a:1b:00:00:00:02,10.9.0.2,SN2,GS108,rack 2,,\n")
    imported = msp.cli("import", "csv", str(csv), "--kind", "device", "--json", token=lead)
    assert imported.returncode == 0, imported.stderr
    assert msp.root().secrets.kv.v2.read_secret_version("customers/gamma/devices/sw-2", mount_point=MOUNTS.kv,
                                                        raise_on_deleted_version=True)["data"]["data"]["model"] == "GS108"
    doctor = msp.cli("doctor", "--json")  # the first admin's stored login
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr

    ended = msp.cli("customer", "end", "gamma", "--reason", "contract ended", "--json", token=lead)
    assert ended.returncode == 0, ended.stderr
    assert json.loads(ended.stdout)["in_force"] is True
    text = msp.root().sys.read_acl_policy("nv-ended-gamma")["data"]["policy"]
    assert text == policies.render_ended("gamma", mounts=MOUNTS) and 'path "msp-transit/decrypt/customer-gamma"' in text
    erased = msp.cli("customer", "erase", "gamma", "--reason", "erasure request", "--yes")
    assert erased.returncode == 0, erased.stderr
    with pytest.raises(hx.InvalidPath):
        msp.root().secrets.kv.v2.read_secret_version("customers/gamma/profile", mount_point=MOUNTS.kv,
                                                     raise_on_deleted_version=True)

    snap = tmp_path / "msp.snap"
    took = msp.cli("server", "backup", "--out", str(snap), "--json", token=msp.root_token)
    assert took.returncode == 0, took.stderr
    back = msp.cli("server", "restore", str(snap), "--yes", "--json", token=msp.root_token)
    assert back.returncode == 0, back.stderr
    got = json.loads(back.stdout)
    assert got["ok"] is True and got["setup_drift"] == [] and got["customers"] >= 2, got


def test_a_mount_name_that_would_reach_a_policy_is_refused(tmp_path):
    """Whatever its source, a name outside the strict shape never reaches HCL: exit 2."""
    bad_names = ['x" {\n}\npath "*', "a/b", "*", "netvault+", "Upper", "", "sys", "-x", "x" * 65]
    for bad in bad_names:
        env = _env(tmp_path / "bad")
        (tmp_path / "bad" / "config" / "config.toml").write_text(f"[mounts]\nkv = {json.dumps(bad)}\n")
        res = _run(env, "setup", "--check", token="t")
        assert res.returncode == ExitCode.USAGE and res.stderr.count("\n") == 1, (bad, res.stderr)
        from netvault.errors import UsageError

        with pytest.raises(UsageError):
            policies.role_policies(Mounts(kv=bad))
    env = _env(tmp_path / "typo")
    (tmp_path / "typo" / "config" / "config.toml").write_text('[mounts]\nkv_mount = "msp-kv"\n')
    res = _run(env, "whoami", token="t")
    assert res.returncode == ExitCode.USAGE and "kv_mount" in res.stderr
    same = _env(tmp_path / "same")
    (tmp_path / "same" / "config" / "config.toml").write_text('[mounts]\nkv = "x"\ntransit = "x"\n')
    assert _run(same, "whoami", token="t").returncode == ExitCode.USAGE


def test_default_policies_are_unchanged_by_templating():
    """With the default [mounts] every policy file renders to the text it held
    before it was templated: no placeholder left, the default paths in place."""
    rendered = policies.role_policies(Mounts())
    for name, text in rendered.items():
        assert "${" not in text and "$" not in text, name
    assert 'path "netvault/metadata/customers/*"' in rendered["nv-team-lead"]
    assert 'path "auth/userpass/users/*"' in rendered["nv-team-lead"]
    assert 'path "netvault-transit/decrypt/*"' in rendered["nv-admin"]
