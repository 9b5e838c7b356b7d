"""Prompts in a real terminal (a pty): secrets hidden and asked twice; the
incident reference asked for when missing."""

from __future__ import annotations

import os
import pty
import select
import sys
import time

import pytest

from test_records_helpers import grant, kv_get


def run_in_pty(args, env, answers, timeout=60.0):
    """Run netvault in a pty; answer each prompt (substring -> reply) in order.
    Returns (exit code, everything the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.execve(sys.executable, [sys.executable, "-m", "netvault", *args], env)
    shown = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        if pending and pending[0][0].encode() in shown.split(b"\n")[-1] + shown[-200:]:
            prompt, reply = pending.pop(0)
            shown += b"<<answered " + prompt.encode() + b">>"
            os.write(fd, reply.encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode("utf-8", "replace")


@pytest.fixture
def place(server, make_user, unique, cli, cli_env):
    admin = make_user("admin").token()
    lead = make_user("team-lead").token()
    eng = make_user("engineer")
    c = unique("pty")
    assert cli("customer", "add", c, token=admin).returncode == 0
    grant(server, c, eng)
    return {"c": c, "lead_env": {**cli_env, "VAULT_TOKEN": lead}, "eng_env": {**cli_env, "VAULT_TOKEN": eng.token()}}


def test_hidden_prompt_twice_stores_the_secret(server, place):
    code, shown = run_in_pty(["credential", "add", f"{place['c']}/p1", "--username", "u"], place["lead_env"],
                             [("Password:", "Typed-Secret-9"), ("Password (again):", "Typed-Secret-9")])
    assert code == 0, shown
    assert "Typed-Secret-9" not in shown  # not echoed
    assert kv_get(server, f"customers/{place['c']}/credentials/p1")["secrets"]["password"].startswith("vault:v1:")


def test_prompt_mismatch_writes_nothing(server, place):
    code, shown = run_in_pty(["credential", "add", f"{place['c']}/p2"], place["lead_env"],
                             [("Password:", "one"), ("Password (again):", "two")])
    assert code == 2 and "differ" in shown
    assert kv_get(server, f"customers/{place['c']}/credentials/p2") is None


def test_missing_incident_is_prompted_in_a_terminal(server, place, cli):
    assert cli("credential", "add", f"{place['c']}/p3", "--stdin", input="pty-pw\n",
               token=place["lead_env"]["VAULT_TOKEN"]).returncode == 0
    code, shown = run_in_pty(["reveal", f"{place['c']}/p3"], place["eng_env"], [("Incident reference", "INC-99")])
    assert code == 0, shown
    assert "pty-pw" in shown
