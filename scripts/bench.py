"""netvault benchmarks: whole processes, against a real OpenBao, in one run.

Run through ``scripts/bench`` (it prepares the virtual environment and, where
gnome-keyring exists, a private D-Bus session with an unlocked Secret Service
so "stored token" means the real OS keyring). Usage::

    scripts/bench [--quick] [--runs N] [--out bench-results.json] [--only MODULE]

What it does: starts its own embedded OpenBao in a temp dir
(``netvault.server.embedded.up(..., die_with_parent=True)``), runs ``netvault setup``
on it (``layout.run_setup``), then every module in ``scripts/benches/*.py``
that defines ``run(ctx) -> list[dict]``. Each module loads its own data and
times both sides of each comparison **alternately** (A B A B ..., order
swapped every round) on the same server, as whole processes, and reports
medians. At the end the server is stopped, a table is printed and the rows
are written as JSON.

The ``ctx`` a module gets (class ``Ctx`` below):

    ctx.address          server address, http://127.0.0.1:PORT
    ctx.root_token       its root token
    ctx.mounts           netvault.local.config.Mounts() (kv, transit, userpass)
    ctx.tmp              pathlib.Path: a temp dir for this run (deleted at the end)
    ctx.quick            bool: --quick (smaller data sets, fewer runs)
    ctx.runs             whole-process runs per side (default 40, --quick 10)
    ctx.bao              path of the bao binary; ctx.netvault: of the netvault command
    ctx.gateway(token=None) -> netvault.vault.client.Vault (root by default)
    ctx.admin_client()   -> hvac client with the root token (set-up plane)
    ctx.env(**extra)     -> environment for a subprocess: no VAULT_*/BAO_* of
                            the caller, VAULT_ADDR set, plus ``extra``
    ctx.user(role, login=False) -> dict(name, password, entity_id, token,
                            config_dir, env, token_store): a new user. With
                            login=True it logs in with `netvault login
                            --password-stdin`, so its token is *stored* the real
                            way (OS keyring, else the 0600 file) and ``env``
                            runs commands with that stored token; otherwise
                            ``env`` carries VAULT_TOKEN. (The keyring holds one
                            login per address: log in one user at a time.)
    ctx.time_alternating(sides, runs=None, warmup=2) -> list[list[float]]
                            ``sides``: list of Side(label, commands, env,
                            expect): each sample runs the side's commands
                            (argv lists) one after another and takes the wall
                            time of all of them; sides alternate every sample.
                            Raises if a command exits with another code than
                            ``expect``.
    ctx.row(benchmark, netvault_s, reference, reference_s, target, limit, **extras)
                         -> the result row: benchmark, netvault_median_s,
                            reference, reference_median_s, ratio
                            (netvault/reference), target (text), ok
                            (ratio <= limit), plus extras
    ctx.parallel(items, fn, threads=16) -> fn(vault_clone, item) in threads
                            (for loading data fast through the gateway)
    ctx.log(msg)         progress on stderr
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from netvault.local import config
from netvault.server import embedded
from netvault.server import setup as layout
from netvault.vault.client import Vault, admin_client

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Side:
    label: str
    commands: list[list[str]]
    env: dict
    expect: int = 0
    samples: list[float] = field(default_factory=list)


class Ctx:
    def __init__(self, address: str, root_token: str, tmp: Path, quick: bool, runs: int) -> None:
        self.address = address
        self.root_token = root_token
        self.tmp = tmp
        self.quick = quick
        self.runs = runs
        self.mounts = config.Mounts()
        self.bao = embedded.find_bao()
        self.netvault = shutil.which("netvault", path=str(Path(sys.executable).parent)) or "netvault"
        self._users = 0

    # -- clients ------------------------------------------------------------
    def gateway(self, token: str | None = None) -> Vault:
        return Vault(self.address, token or self.root_token, timeout=60)

    def admin_client(self):
        return admin_client(self.address, self.root_token)

    def env(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env.pop("NETVAULT_KEYRING", None)
        env["VAULT_ADDR"] = self.address
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def log(self, msg: str) -> None:
        sys.stderr.write(f"[bench] {msg}\n")
        sys.stderr.flush()

    def user(self, role: str, login: bool = False) -> dict:
        import secrets

        from netvault.access.people import create_user

        self._users += 1
        name = f"bench-{role.replace('-', '')}-{self._users}"
        password = secrets.token_urlsafe(18)
        entity = create_user(self.gateway(), self.mounts.userpass, name, password, role, kv=self.mounts.kv)
        cfg = self.tmp / f"config-{name}"
        token = Vault(self.address).write(f"auth/{self.mounts.userpass}/login/{name}", {"password": password})["auth"]["client_token"]
        if login:
            env = self.env(NETVAULT_CONFIG_DIR=cfg)
            proc = subprocess.run([self.netvault, "login", name, "--password-stdin"], input=password + "\n",
                                  env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"login of {name} failed: {proc.stderr.strip()}")
            store = "file (0600, no OS keyring)" if (Path(cfg) / "tokens.json").exists() else "OS keyring"
        else:
            env = self.env(NETVAULT_CONFIG_DIR=cfg, VAULT_TOKEN=token)
            store = "VAULT_TOKEN"
        return {"name": name, "password": password, "entity_id": entity, "token": token,
                "config_dir": cfg, "env": env, "token_store": store}

    # -- timing ---------------------------------------------------------------
    def _sample(self, side: Side) -> float:
        start = time.perf_counter()
        for argv in side.commands:
            proc = subprocess.run(argv, env=side.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if proc.returncode != side.expect:
                raise RuntimeError(f"{side.label}: {argv[0]} exited {proc.returncode}: {proc.stderr.decode()[:300]}")
        return time.perf_counter() - start

    def time_alternating(self, sides: list[Side], runs: int | None = None, warmup: int = 2) -> list[list[float]]:
        runs = runs or self.runs
        for _ in range(warmup):
            for side in sides:
                self._sample(side)
        for i in range(runs):
            order = sides if i % 2 == 0 else list(reversed(sides))
            for side in order:
                side.samples.append(self._sample(side))
        return [s.samples for s in sides]

    @staticmethod
    def median(samples: list[float]) -> float:
        return statistics.median(samples)

    def row(self, benchmark: str, netvault_s: list[float] | float, reference: str, reference_s: list[float] | float,
            target: str, limit: float, **extras) -> dict:
        nv = netvault_s if isinstance(netvault_s, float) else self.median(netvault_s)
        ref = reference_s if isinstance(reference_s, float) else self.median(reference_s)
        ratio = nv / ref if ref else float("inf")
        return {"benchmark": benchmark, "netvault_median_s": round(nv, 4), "reference": reference,
                "reference_median_s": round(ref, 4), "ratio": round(ratio, 3), "target": target,
                "ok": ratio <= limit, **extras}

    def parallel(self, items: list, fn, threads: int = 16) -> None:
        lock = threading.Lock()
        it = iter(items)
        errors: list[BaseException] = []

        def worker() -> None:
            client = self.gateway()
            while not errors:
                with lock:
                    try:
                        item = next(it)
                    except StopIteration:
                        return
                try:
                    fn(client, item)
                except BaseException as exc:
                    errors.append(exc)
                    return

        workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if errors:
            raise errors[0]


def load_modules(only: str | None) -> list:
    mods = []
    for path in sorted((ROOT / "scripts" / "benches").glob("*.py")):
        if path.name.startswith("_") or (only and path.stem != only):
            continue
        spec = importlib.util.spec_from_file_location(f"benches.{path.stem}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        if callable(getattr(mod, "run", None)):
            mods.append(mod)
    return mods


def print_table(rows: list[dict]) -> None:
    cols = [("benchmark", "benchmark"), ("netvault_median_s", "netvault s"), ("reference", "reference"),
            ("reference_median_s", "reference s"), ("ratio", "ratio"), ("target", "target"), ("ok", "ok")]
    cells = [[("yes" if r.get(k) is True else "NO" if r.get(k) is False else str(r.get(k, ""))) for k, _ in cols] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, (_, h) in enumerate(cols)]
    print("  ".join(h.ljust(w) for (_, h), w in zip(cols, widths)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)))


def main() -> int:
    ap = argparse.ArgumentParser(description="netvault benchmarks (whole processes, real OpenBao)")
    ap.add_argument("--quick", action="store_true", help="small data sets and few runs (a smoke run)")
    ap.add_argument("--runs", type=int, default=None, help="whole-process runs per side (default 40, quick 10)")
    ap.add_argument("--out", default="bench-results.json", help="where to write the JSON results")
    ap.add_argument("--only", default=None, help="run only scripts/benches/ONLY.py")
    args = ap.parse_args()
    runs = args.runs or (10 if args.quick else 40)
    tmp = Path(tempfile.mkdtemp(prefix="netvault-bench-"))
    data_dir = tmp / "server"
    rows: list[dict] = []
    started = time.time()
    try:
        info = embedded.up(data_dir, embedded.free_port(), die_with_parent=True)
        root = embedded.root_token(data_dir)
        layout.run_setup(admin_client(info.address, root), config.Mounts(), audit_path=info.audit_file)
        ctx = Ctx(info.address, root, tmp, args.quick, runs)
        ctx.log(f"server at {info.address}, data in {tmp}")
        for mod in load_modules(args.only):
            ctx.log(f"running {Path(mod.__file__).name}")
            rows.extend(mod.run(ctx))
    finally:
        embedded.down(data_dir)
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick, "runs_per_side": runs, "seconds": round(time.time() - started, 1),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print_table(rows)
    print(f"\nwritten to {args.out}")
    return 0 if all(r.get("ok") is not False for r in rows) else 1  # ok None: an informational row


if __name__ == "__main__":
    sys.exit(main())
