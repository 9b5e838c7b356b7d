"""One self-contained HTML page for the auditor: no scripts, no network assets.

Counts, reveals per engineer and per customer over time (inline SVG stacked
bar charts), denied attempts, reveals outside office hours, self-granted
access, and incident references used across many customers. Everything
that comes from the log is HTML-escaped; a Content-Security-Policy forbids
any script or remote resource.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterable

from netvault.audit.events import ACTIONS, Event
from netvault.values.text import html_text as escape  # visible escapes for controls, then HTML-escaped
from netvault.values.text import shown_reference
from netvault.values.results import json_result, to_json
from netvault.vault.kv import CUSTOMERS, metadata_path

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
MAX_ROWS = 500
MAX_SERIES = 9  # the rest is "other"
SAME_GRANT_SECONDS = 60  # writes of one grant (group, record, token) fall within this


@dataclass
class ReportOptions:
    office_start: int = 8  # hour, local to utc_offset
    office_end: int = 18
    utc_offset_hours: float = 0.0
    weekend_is_outside: bool = True
    incident_customers: int = 3  # same incident across at least this many customers
    title: str = "netvault audit report"
    #: names known to exist (userpass users, configured customers / nv-customer-* policies);
    #: None = not known (offline): then only what Vault bound (entity ids, allowed events) counts
    known_people: frozenset | None = None
    known_customers: frozenset | None = None


@dataclass
class Aggregate:
    actions: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    engineers: set = field(default_factory=set)
    customers: set = field(default_factory=set)
    by_engineer: dict = field(default_factory=lambda: defaultdict(Counter))  # engineer -> day -> n
    by_customer: dict = field(default_factory=lambda: defaultdict(Counter))
    denied: list = field(default_factory=list)
    denied_total: int = 0
    after_hours: list = field(default_factory=list)
    after_hours_total: int = 0
    self_granted: list = field(default_factory=list)
    incidents: dict = field(default_factory=lambda: defaultdict(set))  # incident -> customers
    incident_events: dict = field(default_factory=lambda: defaultdict(list))
    flagged: list = field(default_factory=list)  # events with flags (attribution, tampering)
    flagged_total: int = 0
    first: str | None = None
    last: str | None = None
    total: int = 0
    bad_reference: list = field(default_factory=list)  # allowed reveals with a ref-* flag
    bad_reference_total: int = 0
    #: break-glass reveals and review writes (issue 14), for review.combine
    break_glass: list = field(default_factory=list)
    reviews: list = field(default_factory=list)  # review.Review, filled by build()
    #: names seen in the trail that are not a real person / customer: (kind, name) -> outcomes Counter
    unknown: dict = field(default_factory=dict)
    _attempts: dict = field(default_factory=dict)  # (kind, name) -> outcomes Counter
    _seen_people: dict = field(default_factory=dict)  # name -> bound (entity id seen)?
    _seen_customers: dict = field(default_factory=dict)  # name -> allowed event seen?

    def finish(self, opts: "ReportOptions") -> "Aggregate":
        """Split the names seen into real ones (counted) and unknown ones (listed apart).

        A person is real when Vault bound an entity to one of their events or
        the name is a known login; a customer when an allowed event touched it
        or it is a known customer. ``root`` (no entity) and names from denied
        attempts only (a mistyped login or customer) are "unknown names tried".
        """
        people, customers = opts.known_people, opts.known_customers
        for name, bound in self._seen_people.items():
            if bound or (people is not None and name in people):
                self.engineers.add(name)
            else:
                self._unknown("person", name)
        for name, allowed in self._seen_customers.items():
            real = name in customers if customers is not None else allowed
            if real:
                self.customers.add(name)
            else:
                self._unknown("customer", name)
        return self

    def _unknown(self, kind: str, name: str) -> None:
        self.unknown[(kind, name)] = self._attempts.get((kind, name), Counter())


def _parse_time(ts: str) -> datetime:
    return datetime.fromisoformat(ts[:19]).replace(tzinfo=timezone.utc)


def aggregate(evs: Iterable[Event], opts: ReportOptions) -> Aggregate:
    a = Aggregate()
    offset = timedelta(hours=opts.utc_offset_hours)
    for e in evs:
        a.total += 1
        a.first = a.first or e.time
        a.last = e.time
        a.actions[e.action] += 1
        a.outcomes[e.outcome] += 1
        if e.engineer:
            a._seen_people[e.engineer] = a._seen_people.get(e.engineer, False) or bool(e.entity_id)
            a._attempts.setdefault(("person", e.engineer), Counter())[e.outcome] += 1
        if e.customer:
            a._seen_customers[e.customer] = a._seen_customers.get(e.customer, False) or e.outcome == "allowed"
            a._attempts.setdefault(("customer", e.customer), Counter())[e.outcome] += 1
        if e.flags:
            a.flagged_total += 1
            if len(a.flagged) < MAX_ROWS:
                a.flagged.append(e)
        if e.outcome == "denied":
            a.denied_total += 1
            if len(a.denied) < MAX_ROWS:
                a.denied.append(e)
        if e.action == "review" or (e.action == "reveal" and "break-glass" in e.flags):
            a.break_glass.append(e)
        if e.action in ("grant",) and e.subject and e.engineer and e.subject == e.engineer:
            # one grant writes several things (group, grant record, JIT token): list it once
            prev = a.self_granted[-1] if a.self_granted else None
            if not (prev and (prev.engineer, prev.subject, prev.customer) == (e.engineer, e.subject, e.customer)
                    and abs((_parse_time(e.time) - _parse_time(prev.time)).total_seconds()) <= SAME_GRANT_SECONDS):
                a.self_granted.append(e)
        if e.action != "reveal":
            continue
        day = e.time[:10]
        if e.outcome == "allowed":
            a.by_engineer[e.engineer or "?"][day] += 1
            a.by_customer[e.customer or "?"][day] += 1
            if any(f.startswith("ref-") for f in e.flags):
                a.bad_reference_total += 1
                if len(a.bad_reference) < MAX_ROWS:
                    a.bad_reference.append(e)
            if e.incident:
                a.incidents[e.incident].add(e.customer or "?")
                if len(a.incident_events[e.incident]) < 50:
                    a.incident_events[e.incident].append(e)
        local = _parse_time(e.time) + offset
        outside = not (opts.office_start <= local.hour < opts.office_end) or (
            opts.weekend_is_outside and local.weekday() >= 5
        )
        if outside:
            a.after_hours_total += 1
            if len(a.after_hours) < MAX_ROWS:
                a.after_hours.append(e)
    return a.finish(opts)


def _days(a: Aggregate) -> list[str]:
    days = set()
    for series in list(a.by_engineer.values()) + list(a.by_customer.values()):
        days.update(series)
    if not days:
        return []
    start, end = min(days), max(days)
    out: list[str] = []
    d = datetime.fromisoformat(start)
    stop = datetime.fromisoformat(end)
    while d <= stop and len(out) < 400:
        out.append(d.strftime("%Y-%m-%d"))
        d += timedelta(days=1)
    return out


def svg_chart(series: dict[str, Counter], days: list[str], *, label: str, chart_id: str) -> str:
    """Stacked bars per day, one colour per series (top MAX_SERIES, rest as 'other')."""
    if not days:
        return f'<p class="empty" id="{chart_id}">no reveals in this period</p>'
    totals = sorted(series.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    top = totals[:MAX_SERIES]
    rest = totals[MAX_SERIES:]
    named: list[tuple[str, Counter]] = list(top)
    if rest:
        other: Counter = Counter()
        for _, c in rest:
            other.update(c)
        named.append((f"other ({len(rest)})", other))
    peak = max((sum(c.get(d, 0) for _, c in named) for d in days), default=1) or 1
    width, height, left, bottom, top_pad = 760, 260, 44, 40, 12
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    bar_w = min(40.0, max(2.0, plot_w / len(days) * 0.8))
    step = plot_w / len(days)
    parts = [
        f'<svg id="{chart_id}" class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">',
        f'<title>{escape(label)}</title>',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - 10}" y2="{top_pad + plot_h}" stroke="#333"/>',
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" stroke="#333"/>',
    ]
    for tick in sorted({0, peak // 2, peak}):
        y = top_pad + plot_h - tick / peak * plot_h
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{tick}</text>')
    label_every = max(1, len(days) // 8)
    for i, day in enumerate(days):
        x = left + i * step + (step - bar_w) / 2
        y = top_pad + plot_h
        for j, (name, counts) in enumerate(named):
            n = counts.get(day, 0)
            if not n:
                continue
            h = n / peak * plot_h
            y -= h
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(name)} {day}: {n}</title></rect>'
            )
        if i % label_every == 0:
            parts.append(f'<text x="{left + i * step + step / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" class="axis">{day[5:]}</text>')
    parts.append("</svg>")
    legend = "".join(
        f'<span class="key"><i style="background:{PALETTE[j % len(PALETTE)]}"></i>{escape(name)} ({sum(c.values())})</span>'
        for j, (name, c) in enumerate(named)
    )
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def _table(rows: list[Event], columns: list[tuple[str, str]], table_id: str, total: int | None = None) -> str:
    if not rows:
        return f'<p class="empty" id="{table_id}">none</p>'
    head = "".join(f"<th>{escape(h)}</th>" for _, h in columns)
    body = []
    for e in rows:
        d = e.to_dict()
        if not d.get("record") and d.get("record_id"):
            d["record"] = "#" + d["record_id"][:12]
        d["time"] = d["time"][:19].replace("T", " ")
        d["incident"] = shown_reference(d.get("incident"))
        d["flags"] = ", ".join(d.get("flags") or ()) or None
        body.append("<tr>" + "".join(f"<td>{escape(str(d.get(k) if d.get(k) is not None else '-'))}</td>" for k, _ in columns) + "</tr>")
    more = f'<p class="more">showing {len(rows)} of {total}</p>' if total and total > len(rows) else ""
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{more}'


CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}
th{background:#f2f2f2}.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid #ccc;border-radius:6px;padding:8px 14px;min-width:110px}.card b{display:block;font-size:22px}
.axis{font-size:10px;fill:#444}.legend{margin:4px 0 12px}.key{margin-right:14px;white-space:nowrap}
.key i{display:inline-block;width:10px;height:10px;margin-right:4px}
.warn b{color:#b00}.empty,.more{color:#666}
"""


def render(a: Aggregate, opts: ReportOptions, *, generated: str, scope: str, sources: list[str]) -> str:
    days = _days(a)
    cols = [("time", "time (UTC)"), ("engineer", "engineer"), ("action", "action"), ("customer", "customer"),
            ("record", "record"), ("incident", "incident"), ("error", "error"), ("remote_address", "from"),
            ("flags", "flags")]
    reveal_cols = [c for c in cols if c[0] != "error"]
    after_cols = reveal_cols[:-2] + [("outcome", "outcome")] + reveal_cols[-2:]
    unknown_rows = "".join(
        f"<tr><td>{escape(kind)}</td><td>{escape(name)}</td><td>{sum(c.values())}</td>"
        f"<td>{escape(', '.join(f'{k} {v}' for k, v in sorted(c.items())))}</td></tr>"
        for (kind, name), c in sorted(a.unknown.items())
    )
    unknown_html = (f'<table id="unknown-names"><thead><tr><th>kind</th><th>name</th><th>events</th><th>outcomes</th>'
                    f"</tr></thead><tbody>{unknown_rows}</tbody></table>") if unknown_rows else \
        '<p class="empty" id="unknown-names">none</p>'
    wide = sorted(((inc, custs) for inc, custs in a.incidents.items() if len(custs) >= opts.incident_customers),
                  key=lambda x: (-len(x[1]), x[0]))
    wide_rows = "".join(
        f"<tr><td>{escape(shown_reference(inc))}</td><td>{len(custs)}</td><td>{escape(', '.join(sorted(custs)))}</td>"
        f"<td>{escape(', '.join(sorted({e.engineer or '?' for e in a.incident_events[inc]})))}</td></tr>"
        for inc, custs in wide
    )
    wide_html = (f'<table id="same-incident"><thead><tr><th>incident</th><th>customers</th><th>which</th><th>engineers</th></tr></thead>'
                 f"<tbody>{wide_rows}</tbody></table>") if wide else '<p class="empty" id="same-incident">none</p>'
    cards = [
        ("events", a.total), ("reveals", a.actions.get("reveal", 0)), ("denied", a.denied_total),
        ("flagged", a.flagged_total), ("engineers", len(a.engineers)), ("customers", len(a.customers)),
        ("outside office hours", a.after_hours_total), ("self-granted", len(a.self_granted)),
        ("incidents across ≥%d customers" % opts.incident_customers, len(wide)),
        ("useless references", a.bad_reference_total), ("unknown names tried", len(a.unknown)),
    ]
    bg_cols = [("time", "time (UTC)"), ("engineer", "engineer"), ("customer", "customer"), ("record", "record"),
               ("incident", "reference"), ("outcome", "outcome"), ("reviewer", "reviewed by"), ("note", "note"),
               ("flags", "flags")]
    unreviewed = [r for r in a.reviews if not r.reviewed]
    reviewed = [r for r in a.reviews if r.reviewed]
    cards.insert(0, ("break-glass unreviewed", len(unreviewed)))
    card_html = "".join(
        f'<div class="card{" warn" if name in ("denied", "self-granted", "useless references", "flagged", "break-glass unreviewed", "unknown names tried") and n else ""}"><b>{n}</b>{escape(name)}</div>'
        for name, n in cards
    )
    action_rows = "".join(f"<tr><td>{a_}</td><td>{a.actions.get(a_, 0)}</td></tr>" for a_ in ACTIONS)
    hours = f"{opts.office_start:02d}:00–{opts.office_end:02d}:00 UTC{opts.utc_offset_hours:+g}" + (", Mon–Fri" if opts.weekend_is_outside else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{escape(opts.title)}</title><style>{CSS}</style></head>
<body>
<h1>{escape(opts.title)}</h1>
<p>Generated {escape(generated)} from Vault's audit device ({escape(', '.join(sources))}). Scope: {escape(scope)}.
Period covered: {escape((a.first or '-')[:19])} – {escape((a.last or '-')[:19])} UTC.</p>
<div class="cards" id="counts">{card_html}</div>
<h2>Break-glass reveals</h2>
<p>Reveals by on-call members without a grant (break-glass reference). Each stays unreviewed until a team
lead or an auditor records a review (`netvault audit review --ack`); the reviewer is taken from the trail.</p>
<h3>Unreviewed ({len(unreviewed)})</h3>
{_table(unreviewed, bg_cols, "break-glass-unreviewed")}
<h3>Reviewed ({len(reviewed)})</h3>
{_table(reviewed, bg_cols, "break-glass-reviewed")}
<h2>Events by action</h2>
<table id="actions"><thead><tr><th>action</th><th>events</th></tr></thead><tbody>{action_rows}</tbody></table>
<h2>Reveals per engineer over time</h2>
{svg_chart(a.by_engineer, days, label="Reveals per engineer per day", chart_id="chart-engineers")}
<h2>Reveals per customer over time</h2>
{svg_chart(a.by_customer, days, label="Reveals per customer per day", chart_id="chart-customers")}
<h2>Flagged events</h2>
<p>Events the trail cannot attribute or that do not add up: a just-in-time token used by someone other
than its grantee or without a grant record, a token that cannot be traced to a person, a reveal whose record
cannot be named, a rewrite of the id book-keeping (see the README's list of flags).</p>
{_table(a.flagged, [("time", "time (UTC)"), ("engineer", "person"), ("action", "action"), ("customer", "customer"),
                    ("record", "record"), ("incident", "incident"), ("grantee", "minted for"), ("minted_by", "minted by"),
                    ("flags", "flags")], "flagged", a.flagged_total)}
<h2>Denied attempts</h2>
{_table(a.denied, cols, "denied", a.denied_total)}
<h2>Reveals outside office hours ({escape(hours)})</h2>
{_table(a.after_hours, after_cols, "after-hours", a.after_hours_total)}
<h2>Unknown names tried</h2>
<p>Login and customer names in the trail that are no real person or customer: <code>root</code> (no
person), mistyped or guessed login names, customers that do not exist. Not counted above.</p>
{unknown_html}
<h2>Self-granted access</h2>
<p>Grants whose author is the engineer who receives them.</p>
{_table(a.self_granted, [("time", "time (UTC)"), ("engineer", "granted by"), ("subject", "to"), ("customer", "customer"), ("record", "via"), ("outcome", "outcome")], "self-granted")}
<h2>Reveals with a useless incident reference</h2>
<p>Vault accepted the reference, but it names no incident: ref-empty (nothing after the prefix),
ref-glob (holds *), ref-long (over 64 characters), ref-control (control or invisible characters).</p>
{_table(a.bad_reference, reveal_cols, "bad-reference", a.bad_reference_total)}
<h2>Same incident reference across many customers</h2>
<p>Incident references used for allowed reveals in at least {opts.incident_customers} customers.</p>
{wide_html}
</body></html>
"""


def build(evs: Iterable[Event], opts: ReportOptions | None = None, *, generated: str, scope: str = "all",
          sources: list[str] | None = None, stored_reviews: dict | None = None,
          review_events: Iterable[Event] = ()) -> str:
    """``stored_reviews``: review notes from Vault (review.stored_reviews), if any;
    ``review_events``: review writes a filter (e.g. --customer) left out of ``evs``."""
    from netvault.audit.review import combine

    opts = opts or ReportOptions()
    a = aggregate(evs, opts)
    a.reviews = combine(list(review_events) + a.break_glass, stored_reviews)
    return render(a, opts, generated=generated, scope=scope, sources=sources or [])

@json_result
@dataclass
class ReportResult:
    """What `audit report` wrote: the path and the counts shown on the page."""
    path: str
    events: int
    reveals: int
    denied: int
    flagged: int
    engineers: int
    customers: int
    after_hours: int
    self_granted: int
    unknown_names: int
    sources: list[str]

    def to_dict(self) -> dict:
        return to_json(self)


def write(out, evs: Iterable[Event], opts: ReportOptions | None = None, *, generated: str, scope: str = "all",
          sources: list[str] | None = None, stored_reviews: dict | None = None,
          review_events: Iterable[Event] = ()) -> ReportResult:
    """Build the page and write it to ``out`` atomically, mode 0600 (it names people and customers)."""
    from pathlib import Path

    from netvault.local.config import write_private

    from netvault.audit.review import combine

    opts = opts or ReportOptions()
    a = aggregate(evs, opts)
    a.reviews = combine(list(review_events) + a.break_glass, stored_reviews)
    html = render(a, opts, generated=generated, scope=scope, sources=sources or [])
    write_private(Path(out), html.encode("utf-8"))
    return ReportResult(path=str(out), events=a.total, reveals=a.actions.get("reveal", 0), denied=a.denied_total,
                        flagged=a.flagged_total, engineers=len(a.engineers), customers=len(a.customers),
                        after_hours=a.after_hours_total, self_granted=len(a.self_granted),
                        unknown_names=len(a.unknown), sources=list(sources or []))


def known_names(vault, kv: str, userpass: str) -> tuple[frozenset | None, frozenset | None]:
    """(people, customers) that exist, as far as this token may list them; None where it may not.

    People: the userpass logins. Customers: the ``nv-customer-<slug>`` ACL
    policies (admin-written); for an auditor, who may not list policies, the
    customer folders in KV metadata.
    """
    from netvault.vault import policies
    from netvault.errors import NetvaultError

    def listed(path):
        try:
            return [str(k).rstrip("/") for k in vault.list(path)]
        except NetvaultError:
            return None

    people = listed(f"auth/{userpass.strip('/')}/users")
    pols = listed("sys/policies/acl")
    customers = policies.customers_of_policies(pols)[0] if pols is not None else listed(metadata_path(kv.strip("/"), CUSTOMERS))
    return (frozenset(people) if people is not None else None,
            frozenset(customers) if customers is not None else None)
