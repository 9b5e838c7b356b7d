"""Spreadsheets: CSV with a header row, as Excel and LibreOffice write them.

Encodings: UTF-8 with or without BOM, Windows-1252 (Excel's "CSV" on Western
Windows), detected unless ``encoding`` is given. Delimiter ``,`` or ``;``
(Dutch Excel writes ``;``), detected from the header. Rows are numbered as a
spreadsheet shows them: the header is row 1.

A cell that starts with ``'`` followed by ``= + - @`` or a tab/CR is read
without that ``'``: ``export csv`` adds it so a spreadsheet does not run the
cell as a formula (and the round trip stays exact).
"""

from __future__ import annotations

import csv
import io
import re

from netvault.values import names
from netvault.errors import UsageError
from netvault.importing import plan as planmod

_FORMULA = re.compile(r"'+[=+\-@\t\r]")
DELIMITERS = (",", ";")


def unescape(cell: str) -> str:
    return cell[1:] if _FORMULA.match(cell) else cell


def escape(cell: str) -> str:
    """What ``export csv`` writes: a leading ``'`` before formula-looking text."""
    return "'" + cell if cell and (cell[0] in "=+-@\t\r" or _FORMULA.match(cell)) else cell


def decode(data: bytes, encoding: str | None, label: str) -> tuple[str, str]:
    """(text, encoding used)."""
    if encoding:
        import codecs

        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UsageError(f"unknown encoding {names.shown(encoding)}") from None
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            raise UsageError(f"{label} is not valid {encoding} (byte {exc.start + 1})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UsageError(f"{label} is UTF-16 (Excel's 'Unicode text'); save it as 'CSV UTF-8' or give --encoding utf-16")
    if b"\x00" in data[:65536]:
        raise UsageError(f"{label} is not a text file (it holds NUL bytes)")
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise UsageError(f"{label} starts with a UTF-8 BOM but is not valid UTF-8 (byte {exc.start + 4})") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise UsageError(f"{label} is neither UTF-8 nor Windows-1252 (byte {exc.start + 1}); give --encoding") from None


def _header_cells(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return []


def detect_delimiter(text: str, columns: tuple[str, ...], label: str) -> str:
    """The delimiter under which the header names the most known columns;
    a tie (e.g. a one-column file) goes to csv.Sniffer limited to , and ;."""
    first = text.split("\n", 1)[0].rstrip("\r")
    scores = {}
    for d in DELIMITERS:
        cells = [c.strip().lower() for c in _header_cells(first, d)]
        scores[d] = sum(1 for c in cells if c in columns)
    best = max(scores.values())
    winners = [d for d, s in scores.items() if s == best]
    if best == 0:
        raise UsageError(f"{label}: the first row names none of the columns {', '.join(columns)}; "
                         "is it a CSV with a header row, separated by , or ;?")
    if len(winners) == 1:
        return winners[0]
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        return ","


def read(path: str, kind: str, *, customer: str | None = None, encoding: str | None = None) -> planmod.Plan:
    """A plan from one CSV file of ``kind`` (credentials | devices | licences)."""
    label = names.shown(str(path))
    columns = planmod.COLUMNS[kind]
    text, _used = decode(planmod.read_bytes(path, "CSV file"), encoding, label)
    plan = planmod.Plan(label)
    if not text.strip():
        raise UsageError(f"{label} is empty")
    delimiter = detect_delimiter(text, columns, label)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise UsageError(f"{label}: row 1 (header) is not valid CSV: {exc}") from None
    header = [h.strip().lower() for h in header]
    unknown = [h for h in header if h not in columns]
    if unknown:
        plan.problem("row 1", f"unknown column(s) {', '.join(names.shown(h) for h in unknown)}; "
                              f"columns for {kind}: {', '.join(columns)}")
    dup = sorted({h for h in header if header.count(h) > 1 and h})
    if dup:
        plan.problem("row 1", f"column(s) named twice: {', '.join(dup)}")
    if customer is not None:
        if "customer" in header:
            plan.problem("row 1", "give either a 'customer' column or --customer, not both")
        try:
            names.slug(customer, "customer")
        except UsageError as exc:
            plan.problem("", f"--customer: {exc.message}")
    missing = [c for c in ("customer", "name") if c not in header and not (c == "customer" and customer)]
    if missing:
        plan.problem("row 1", f"missing column(s) {', '.join(missing)}")
    if plan.problems:
        return plan
    secret_cols = planmod.SECRET_COLUMNS[kind]
    for row_no, row in numbered_rows(reader, plan):
        source = f"row {row_no}"
        if len(row) != len(header):
            plan.problem(source, f"{len(row)} cells, the header has {len(header)} "
                                 f"(a stray '{delimiter}' or a missing quote?)")
            continue
        cells = dict(zip(header, row))
        values = {c: unescape(v.strip()) for c, v in cells.items()
                  if c not in secret_cols and c not in ("customer", "name")}
        secrets = {c: cells[c] for c in secret_cols if c in cells}  # secrets as written: no stripping
        secrets = {c: v if v.strip() else "" for c, v in secrets.items()}
        who = customer if customer is not None else cells.get("customer", "").strip()
        planmod.build_entry(plan, source, kind, who, cells.get("name", "").strip(), values, secrets)
    plan.check_duplicates()
    return plan


def numbered_rows(reader, plan: planmod.Plan):
    """(row number, cells) of every non-blank data row after the header (row 1).
    A row the csv module cannot parse is a problem of the plan, and ends the
    reading: nothing after it can be trusted to be split right."""
    row_no = 1
    while True:
        row_no += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            plan.problem(f"row {row_no}", f"broken CSV ({exc}); nothing after it was read")
            return
        if any(cell.strip() for cell in row):
            yield row_no, row
