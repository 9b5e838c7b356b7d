"""The netvault demo: real commands against the embedded OpenBao, narrated.

Run through scripts/demo (which prepares the virtual environment). Each step
prints the command it runs; a failing step stops the demo with its exit code.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

WORK = Path(tempfile.mkdtemp(prefix="netvault-demo-"))
DATA = WORK / "server"
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))},
    "NETVAULT_CONFIG_DIR": str(WORK / "config"),
    "NETVAULT_DATA_DIR": str(DATA),
}
PORT = os.environ.get("DEMO_PORT", "18250")


def say(text: str) -> None:
    print(f"\n\033[1m## {text}\033[0m", flush=True)


def nv(*args: str, user_env: dict | None = None, input: str | None = None, expect: int = 0, quiet: bool = False) -> str:
    env = {**ENV, **(user_env or {})}
    shown = "netvault " + " ".join(shlex.quote(a) for a in args)
    print(f"$ {shown}", flush=True)
    proc = subprocess.run(
        [sys.executable, "-m", "netvault", *args], env=env, input=input, text=True, capture_output=True
    )
    if proc.stdout and not quiet:
        print(proc.stdout.rstrip())
    if proc.stderr:
        print("\033[2m" + proc.stderr.rstrip() + "\033[0m")
    if proc.returncode != expect:
        print(f"demo step failed: exit {proc.returncode}, expected {expect}", file=sys.stderr)
        sys.exit(proc.returncode or 1)
    if expect:
        print(f"  (exit {proc.returncode}, as expected)")
    return proc.stdout


def main() -> None:
    keep = os.environ.get("KEEP") == "1"
    try:
        say("Admin: start the embedded OpenBao (first start: init, setup, first admin login)")
        nv("server", "up", "--port", PORT)
        nv("setup", "--check")
        nv("whoami")
        for step in STEPS:
            step()
        say("Admin: stop the server (data stays in the data dir)")
    finally:
        if not keep:
            nv("server", "down")
            print(f"\ndemo data left in {WORK} (delete it when done)")
        else:
            print(f"\nserver left running; data in {DATA}; config in {WORK / 'config'}")


#: later parts of the demo (records, access, audit) append their steps here
STEPS: list = []

if __name__ == "__main__":
    main()
