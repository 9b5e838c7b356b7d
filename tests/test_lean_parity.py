"""Issue 10 §1: the lean entry point and the typer CLI are one command.

Every argv form the lean parser accepts (and the ones it leaves to typer) is
run on both paths, the lean one (plain ``netvault ...``) and the typer one
(``NETVAULT_NO_FAST=1``), against the real server: stdout, stderr and exit
code must be the same. The lean grammar is derived from the typer commands
(``cli/argspec.SPEC``); the first test fails when it is out of date.
"""

from __future__ import annotations

import pytest

from test_records_helpers import grant

MAC = "00:16:3e:5a:0b:01"


def test_lean_grammar_is_the_typer_commands():
    """SPEC is what argspec.build() reads from the typer/click command objects,
    and each lean body takes exactly the typer command's parameters."""
    import inspect

    from netvault.cli import argspec, lean

    assert argspec.build() == argspec.SPEC, "regenerate: python -m netvault.cli.argspec"
    for words, target in argspec.TARGETS.items():
        typer_params = [p.name for p in argspec.click_command(words).params if p.expose_value]
        body_params = list(inspect.signature(getattr(lean, target)).parameters)
        assert sorted(body_params) == sorted(typer_params), words


def test_lean_path_imports_no_typer():
    """What the lean path loads: no typer (nor hvac, keyring, pydantic)."""
    import subprocess
    import sys

    code = ("import sys; from netvault.cli import fast, lean, guard, argspec; from netvault.records import facade; "
            "fast.parse(['reveal', 'a/b', '-i', 'INC-1']); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'click', 'hvac', 'keyring', 'pydantic', 'rich'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.fixture
def shop(server, make_user, unique, cli):
    admin = make_user("admin").token()
    lead = make_user("team-lead").token()
    eng = make_user("engineer")
    c = unique("par")
    assert cli("customer", "add", c, token=admin).returncode == 0
    grant(server, c, eng)
    r = cli("credential", "add", f"{c}/fw", "--username", "admin", "--totp", "--tag", "vpn", "--stdin",
            input="fw-Pass-1\nJBSWY3DPEHPK3PXPJBSWY3DP\n", token=lead)
    assert r.returncode == 0, r.stderr
    r = cli("device", "add", f"{c}/sw-1", "--kind", "switch", "--mac", MAC, "--ip", "192.0.2.77", "--tag", "core",
            "--force", token=lead)
    assert r.returncode == 0, r.stderr
    return {"c": c, "eng": eng.token(), "lead": lead}


def _both(cli, args, token, input=None):
    lean = cli(*args, token=token, input=input)
    typer = cli(*args, token=token, input=input, env={"NETVAULT_NO_FAST": "1"})
    return lean, typer


def _compare(cli, forms, token):
    """[(argv, what differs)] over ``forms`` of (argv, whether the lean parser takes it)."""
    from netvault.cli.fast import parse

    wrong = []
    for args, lean_takes in forms:
        if (parse(list(args)) is not None) != lean_takes:
            wrong.append((args, f"lean parser takes it: {not lean_takes}"))
        lean, typer = _both(cli, args, token, input="")
        for what in ("returncode", "stdout", "stderr"):
            if getattr(lean, what) != getattr(typer, what):
                wrong.append((args, f"{what}: lean {getattr(lean, what)!r} vs typer {getattr(typer, what)!r}"))
    return wrong


def test_reveal_forms_same_on_both_paths(shop, cli):
    ref = f"{shop['c']}/fw"
    forms = [
        (["reveal", ref, "--incident", "INC-1"], True),
        (["reveal", ref, "--incident=INC-1"], True),
        (["reveal", ref, "-i", "INC-1"], True),
        (["reveal", ref, "-iINC-1"], True),
        (["reveal", ref, "-i=INC-1"], True),  # click: the value is "=INC-1" (refused, exit 2) on both paths
        (["reveal", "-i", "INC-1", ref], True),  # option before the argument
        (["reveal", ref, "-i", "INC-1", "-i", "INC-2"], True),  # repeated: the last wins
        (["reveal", "-i", "INC-1", "--", ref], True),
        (["reveal", "--", ref, "-i", "INC-1"], False),  # after --, "-i" is an argument: too many (typer says so)
        (["reveal", ref, "-i", "INC-1", "--json"], True),
        (["reveal", ref, "-i", "INC-1", "--field", "password"], True),
        (["reveal", ref, "-i", "INC-1", "-f", "nope"], True),
        (["reveal", ref, "-i", "INC-1", "--field=bad field"], True),
        (["reveal", ref, "-i", "INC-1", "--version", "1"], True),
        (["reveal", ref, "-i", "INC-1", "--version", "9"], True),
        (["reveal", ref, "-i", "INC-1", "--version", "0"], False),
        (["reveal", ref, "-i", "INC-1", "--version", "x"], False),
        (["reveal", ref, "-i", "INC-1", "--copy"], True),
        (["reveal", ref, "-i", "INC-1", "--json", "--copy"], True),
        (["reveal", ref, "-i", "INC-1", "--break-glass"], True),
        (["reveal", ref, "-i", "BAD-1"], True),
        (["reveal", ref], True),  # no incident, stdin not a terminal
        (["reveal", ref, "--incident"], False),
        (["reveal", ref, "--json=1", "-i", "INC-1"], False),
        (["reveal", ref, "--bogus", "-i", "INC-1"], False),
        (["reveal", ref, "extra", "-i", "INC-1"], False),
        (["reveal", "-i", "INC-1"], False),
        (["reveal", ref, "-i", "INC-1", "--help"], False),
        (["reveal", "nosuch/fw", "-i", "INC-1"], True),
        (["reveal", "not a ref", "-i", "INC-1"], True),
    ]
    assert _compare(cli, forms, shop["eng"]) == []


def test_reveal_totp_same_on_both_paths(shop, cli):
    """The TOTP code moves with the clock: same shape and exit code."""
    lean, typer = _both(cli, ["reveal", f"{shop['c']}/fw", "-i", "INC-1", "--totp"], shop["eng"])
    assert lean.returncode == typer.returncode == 0 and lean.stderr == typer.stderr == ""
    assert len(lean.stdout.strip()) == len(typer.stdout.strip()) == 6 and lean.stdout.strip().isdigit()


def test_find_forms_same_on_both_paths(shop, cli):
    forms = [
        (["find", MAC], True),
        (["find", MAC, "--json"], True),
        (["find", "--json", MAC], True),
        (["find", "--", MAC], True),
        (["find", "--json", "--json", MAC], True),
        (["find", "192.0.2.77"], True),
        (["find", "SW-1"], True),
        (["find", "00:16:3e"], True),
        (["find", "no-such-thing-anywhere"], True),
        (["find", "00:11:22:33:44"], True),
        (["find"], False),
        (["find", MAC, "--bogus"], False),
        (["find", MAC, "extra"], False),
        (["find", "--json=yes", MAC], False),
    ]
    assert _compare(cli, forms, shop["eng"]) == []


def test_everyday_forms_same_on_both_paths(shop, cli):
    c = shop["c"]
    forms = [
        (["credential", "list", c], True),
        (["credential", "list", c, "--tag", "vpn", "--json"], True),
        (["credential", "list", "--tag=none", c], True),
        (["device", "list", c, "--kind", "switch", "--tag", "core"], True),
        (["device", "list", c, "--kind", "nas"], True),
        (["credential", "show", f"{c}/fw", "--version", "1", "--json"], True),
        (["credential", "show", f"{c}/fw", "--version", "0"], False),
        (["credential", "list", "no-such-customer"], True),
        (["credential", "list"], False),
    ]
    assert _compare(cli, forms, shop["eng"]) == []
    assert _compare(cli, [(["access", "list", "--customer", c], True), (["access", "list", "--json", "--engineer", "nobody"], True)],
                    shop["lead"]) == []


def test_one_error_handler_for_both_paths(shop, cli):
    """A bug on either path: one line naming the type, never the message; --traceback shows it."""
    import os

    env_bug = {"NETVAULT_CONFIG_DIR": os.devnull + "/x"}  # config dir under a file: an OSError inside the command
    lean = cli("reveal", f"{shop['c']}/fw", "-i", "INC-1", token=None, env=env_bug)
    typer = cli("reveal", f"{shop['c']}/fw", "-i", "INC-1", token=None, env={**env_bug, "NETVAULT_NO_FAST": "1"})
    assert lean.returncode == typer.returncode and lean.stderr == typer.stderr
    assert lean.stderr.count("\n") == 1 and lean.stderr.startswith("error: ")
