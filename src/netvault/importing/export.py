"""``export csv``: a customer's records, non-secret fields, in the import columns.

Lists are written the way the import reads them (MACs and IPs separated by
spaces, tags by ';'), so an exported file imports back ``unchanged``. Cells a
spreadsheet would run as a formula get a leading ``'`` (``csv_source.escape``).
"""

from __future__ import annotations

import csv
import io

from netvault.importing.csv_source import escape
from netvault.importing.plan import COLUMNS, SECRET_COLUMNS


def _value(kind: str, column: str, record: dict) -> str:
    if kind == "devices" and column in ("mac", "ip"):
        from netvault.values.macs import display_mac

        values = record.get("macs" if column == "mac" else "ips") or []
        return " ".join(display_mac(v) if column == "mac" else v for v in values)
    if column == "tags":
        return ";".join(record.get("tags") or [])
    value = record.get(column)
    return "" if value is None else str(value)


def columns(kind: str) -> list[str]:
    return [c for c in COLUMNS[kind] if c not in SECRET_COLUMNS[kind]]


def to_csv(store, customer: str, kind: str) -> tuple[str, int]:
    """(CSV text, number of records) of one customer's records of ``kind``."""
    rows = sorted(store.list(kind, customer), key=lambda r: r["name"])
    cols = columns(kind)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(cols)
    for r in rows:
        writer.writerow([escape(_value(kind, c, r)) for c in cols])
    return out.getvalue(), len(rows)
