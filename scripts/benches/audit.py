"""Audit benchmarks (issue 5): `audit log` vs jq, and seal + verify vs sha256sum.

- ``netvault audit log --customer X --json`` over generated files shaped exactly
  like OpenBao's (request + response entries, HMAC'd values) of 1,000,000 and
  100,000 entries: at least 3x faster than the equivalent jq filter, peak
  memory (RSS) at most 150 MB.
- ``netvault audit seal`` and ``netvault audit verify`` over 1 GB: each at
  least 0.7x the throughput of ``sha256sum`` on the same file.

``run(ctx)`` is called by scripts/bench.py; ``python scripts/benches/audit.py
[--quick]`` runs it standalone. Generated files live in a temp dir that is
deleted afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # audit_synth: the test-data generator

CUSTOMER = "cust-07"


def _opt(ctx, name, default=None):
    if ctx is None:
        return default
    if isinstance(ctx, dict):
        return ctx.get(name, default)
    return getattr(ctx, name, default)


def _measure(argv: list[str], env: dict, stdout_path: Path | None = None) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit code) of one process."""
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        if proc.returncode != 0:
            sys.stderr.write(f"{argv[:6]} failed: {err[-500:]}\n")
    finally:
        if stdout_path:
            out.close()
    return wall, usage.ru_maxrss / 1024.0, proc.returncode


def _env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update({
        "NETVAULT_CONFIG_DIR": str(tmp / "config"), "NETVAULT_DATA_DIR": str(tmp / "data"),
        "NETVAULT_KEYRING": "file", "PYTHONPATH": str(ROOT / "src"),
    })
    return env


def _lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def bench_log(tmp: Path, entries: int, runs: int) -> dict:
    import audit_synth as synth

    log = tmp / f"audit-{entries}.log"
    synth.generate(log, entries)
    env = _env(tmp)
    nv_argv = [sys.executable, "-m", "netvault", "audit", "log", "--file", str(log), "--customer", CUSTOMER, "--json"]
    jq_argv = ["jq", "-c", synth.jq_filter(CUSTOMER), str(log)]
    nv_times, jq_times, rss = [], [], []
    for _ in range(runs):
        w, m, rc = _measure(nv_argv, env, tmp / "nv.out")
        assert rc == 0, "netvault audit log failed"
        nv_times.append(w)
        rss.append(m)
        w, m, rc = _measure(jq_argv, env, tmp / "jq.out")
        assert rc == 0, "jq failed"
        jq_times.append(w)
    nv_n, jq_n = _lines(tmp / "nv.out"), _lines(tmp / "jq.out")
    size = log.stat().st_size
    nv_med, jq_med = statistics.median(nv_times), statistics.median(jq_times)
    ratio = jq_med / nv_med
    peak = max(rss)
    row = {
        "benchmark": f"audit log --customer X --json, {entries:,} entries ({size / 1e6:.0f} MB)",
        "netvault_median_s": round(nv_med, 3), "reference": "jq (same filter)",
        "reference_median_s": round(jq_med, 3), "ratio": round(ratio, 2),
        "target": ">= 3x faster, peak RSS <= 150 MB", "ok": ratio >= 3.0 and peak <= 150 and nv_n == jq_n,
        "peak_rss_mb": round(peak, 1), "events": nv_n, "jq_events": jq_n, "runs": runs,
    }
    return row, log


def _server(tmp: Path):
    from netvault.server import embedded

    data = tmp / "bao"
    from netvault.local import config
    from netvault.server import setup as layout
    from netvault.vault.client import admin_client

    info = embedded.up(data, embedded.free_port(), die_with_parent=True)
    token = embedded.root_token(data)
    for attempt in range(20):  # a fresh kv-v2 mount upgrades itself for a moment
        try:
            layout.run_setup(admin_client(info.address, token), config.Mounts(), audit_path=info.audit_file)
            break
        except Exception:
            if attempt == 19:
                raise
            time.sleep(0.5)
    return data, info.address, token


def _shift_day(path: Path, old: bytes, new: bytes) -> None:
    """Replace ``old`` by ``new`` (same length) in place, a line-aligned chunk at a time."""
    assert len(old) == len(new)
    with open(path, "r+b") as fh:
        pos = 0
        while True:
            fh.seek(pos)
            chunk = fh.read(8 << 20)
            if not chunk:
                break
            nl = chunk.rfind(b"\n")
            part = chunk[: nl + 1] if nl >= 0 else chunk
            fh.seek(pos)
            fh.write(part.replace(old, new))
            pos += len(part)


def bench_seal(tmp: Path, source: Path, size: int, runs: int) -> list[dict]:
    from netvault.server import embedded

    big = tmp / "big.log"
    # Build a file of ~size bytes of real-shaped entries, cut at a line end.
    with open(big, "wb") as out:
        written = 0
        while written < size:
            with open(source, "rb") as src:
                while written < size:
                    chunk = src.read(8 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
                    written += len(chunk)
    with open(big, "r+b") as fh:
        fh.seek(max(0, size - (1 << 16)))
        tail = fh.read()
        cut = size - (1 << 16) + tail.rfind(b"\n") + 1 if len(tail) else size
        fh.truncate(cut)
    nbytes = big.stat().st_size
    data, address, token = _server(tmp)
    rows = []
    try:
        env = _env(tmp)
        env.update({"VAULT_ADDR": address, "VAULT_TOKEN": token})
        seal_t, verify_t, sha_t = [], [], []
        bundle = tmp / "digests.json"
        day = b"2026-11-01T"
        for i in range(runs):
            # Each run seals a fresh file identity covering its own day: the
            # earlier runs' digests seal the same file at other times, and
            # verify --only-given rightly refuses digests overlapping a given
            # file's time (untimed, before the measurement).
            new_day = b"2026-11-%02dT" % (i + 2)
            _shift_day(big, b'{"time":"' + day, b'{"time":"' + new_day)
            day = new_day
            w, _m, rc = _measure([sys.executable, "-m", "netvault", "audit", "seal", "--file", str(big)], env)
            assert rc == 0, "seal failed"
            seal_t.append(w)
            subprocess.run([sys.executable, "-m", "netvault", "audit", "export-digests", "--out", str(bundle)], env=env, check=True, capture_output=True)
            w, _m, rc = _measure([sys.executable, "-m", "netvault", "audit", "verify", "--file", str(big), "--digests", str(bundle), "--only-given"], env)
            assert rc == 0, "verify failed"
            verify_t.append(w)
            w, _m, rc = _measure(["sha256sum", str(big)], env)
            sha_t.append(w)
        sha = statistics.median(sha_t)
        for name, times in (("seal", seal_t), ("verify", verify_t)):
            med = statistics.median(times)
            ratio = sha / med  # throughput ratio: (bytes/med) / (bytes/sha)
            rows.append({
                "benchmark": f"audit {name}, {nbytes / 1e9:.2f} GB",
                "netvault_median_s": round(med, 3), "reference": "sha256sum",
                "reference_median_s": round(sha, 3), "ratio": round(ratio, 2),
                "target": ">= 0.7x sha256sum throughput", "ok": ratio >= 0.7,
                "netvault_mb_s": round(nbytes / med / 1e6), "sha256sum_mb_s": round(nbytes / sha / 1e6), "runs": runs,
            })
        med = statistics.median(s + v for s, v in zip(seal_t, verify_t))
        rows.append({
            "benchmark": f"audit seal + verify, {nbytes / 1e9:.2f} GB (two passes)",
            "netvault_median_s": round(med, 3), "reference": "sha256sum x2",
            "reference_median_s": round(2 * sha, 3), "ratio": round(2 * sha / med, 2),
            "target": ">= 0.7x sha256sum throughput", "ok": 2 * sha / med >= 0.7, "runs": runs,
        })
    finally:
        embedded.down(data)
    return rows


def run(ctx=None) -> list[dict]:
    quick = bool(_opt(ctx, "quick", False))
    if not shutil.which("jq"):
        return [{"benchmark": "audit log vs jq", "ok": False, "error": "jq not installed (Debian package jq)"}]
    tmp = Path(tempfile.mkdtemp(prefix="netvault-bench-audit-"))
    rows: list[dict] = []
    try:
        sizes = (100_000,) if quick else (1_000_000, 100_000)
        runs = 3
        biggest = None
        for n in sizes:
            row, log = bench_log(tmp, n, runs)
            rows.append(row)
            if biggest is None:
                biggest = log
            else:
                log.unlink()
        size = (100 << 20) if quick else (1 << 30)
        rows.extend(bench_seal(tmp, biggest, size, runs))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


if __name__ == "__main__":
    result = run({"quick": "--quick" in sys.argv})
    for r in result:
        print(json.dumps(r))
    sys.exit(0 if all(r.get("ok") for r in result) else 1)
