"""Check an import plan against Vault, then write it: concurrent, bounded,
idempotent. Nothing here prints; ``progress(done, total)`` lets the caller draw.

Order: (1) every customer exists (imports never create customers: that is an
admin's act, with its transit key and policy), (2) names already in Vault are
listed once per customer and kind, (3) links and required fields of *new*
records are checked -- all before the first write; any problem and nothing is
written (``plan.ImportRefused``). Then credentials, licences, devices (a
device may link a credential of the same file), each record by
``Store.write_record`` on a per-thread client. Per batch, not per record:
the devices' global index entries (``records.index`` buckets, before the
records), entries updates dropped (after), and each customer's search
document (after), so a new device costs one KV write.
"""

from __future__ import annotations

from netvault.records import index, lookup
from netvault.errors import ExitCode, NetvaultError, PermissionDenied
from netvault.importing.plan import Entry, ImportRefused, Outcome, Plan
from netvault.vault.kv import kv_read

THREADS = 16  # writes are latency-bound; measured best on this 2-core machine
ORDER = ("credentials", "licences", "devices")


def _rows(sources: list[str], limit: int = 8) -> str:
    shown = ", ".join(sources[:limit])
    return shown + (f" and {len(sources) - limit} more" if len(sources) > limit else "")


def check(store, plan: Plan) -> dict[tuple[str, str], set[str]]:
    """Vault-side checks; raises ImportRefused with every problem (the plan's
    own included). Returns the names already present per (customer, kind)."""
    by_customer: dict[str, list[str]] = {}
    for e in plan.entries:
        by_customer.setdefault(e.customer, []).append(e.source)
    customers = sorted(by_customer)

    def probe(client, customer):
        # A team lead's rights are rendered per existing customer, so Vault
        # refuses (403) rather than answers "not found" for a name it has none for.
        try:
            return kv_read(client, store.kv, lookup.profile_path(customer)) is not None
        except PermissionDenied:
            return False

    exists = dict(zip(customers, lookup.parallel(store.vault, customers, probe, threads=THREADS)))
    for c in customers:
        if not exists[c]:
            plan.problem(_rows(by_customer[c]), f"unknown customer {c} (imports do not create customers: "
                                                f"an admin adds them with `netvault customer add`)", ExitCode.NOT_FOUND)
    pairs = sorted({(e.customer, e.kind) for e in plan.entries if exists.get(e.customer)})
    listed = lookup.parallel(store.vault, pairs, lambda client, p: store.existing_names(p[0], p[1], client), threads=THREADS)
    present = dict(zip(pairs, listed))
    planned_credentials = {(e.customer, e.name) for e in plan.entries if e.kind == "credentials"}
    for e in plan.entries:
        if not exists.get(e.customer):
            continue
        new = e.name not in present[(e.customer, e.kind)]
        link = e.fields.get("credential") if e.kind == "devices" else None
        if link and (e.customer, link) not in planned_credentials and link not in present.get((e.customer, "credentials"), set()):
            if (e.customer, "credentials") not in present:
                present[(e.customer, "credentials")] = store.existing_names(e.customer, "credentials")
            if link not in present[(e.customer, "credentials")]:
                plan.problem(e.source, f"credential {e.customer}/{link} to link is neither in Vault nor in this file")
        if new:
            if e.kind == "credentials" and not e.secrets:
                plan.problem(e.source, f"new credential {e.customer}/{e.name} needs a password (or another secret)")
            if e.kind == "devices" and not e.fields.get("kind"):
                plan.problem(e.source, f"new device {e.customer}/{e.name} needs a kind")
            if e.kind == "licences" and not e.fields.get("product"):
                plan.problem(e.source, f"new licence {e.customer}/{e.name} needs a product")
    if plan.problems:
        raise ImportRefused(plan.label, plan.problems)
    return present


def run(store, plan: Plan, *, dry_run: bool = False, threads: int = THREADS, progress=None) -> list[Outcome]:
    """Check, then write every entry. Returns one Outcome per source entry
    (skipped ones included), in source order. A failure of one write does not
    stop the others: it is an Outcome with action ``failed`` (rerun to finish;
    what was written is complete and a rerun reports it ``unchanged``)."""
    if plan.problems:
        raise ImportRefused(plan.label, plan.problems)
    present = check(store, plan)
    total = len(plan.entries)
    done = [0]
    import _thread

    lock = _thread.allocate_lock()

    # search entries of what was written, per customer: find's search
    # document is written once per customer at the end, not once per record
    collected: dict[str, dict] = {}

    # global find index entries no longer held by updated devices: removed
    # in one batch after the writes (one bucket write each)
    dropped: list = []

    def one(client, e: Entry) -> Outcome:
        try:
            with lock:
                collect = collected.setdefault(e.customer, {})
            action, reason = store.write_record(
                e.kind, e.customer, e.name, e.fields, e.secrets, vault=client,
                known_new=e.name not in present[(e.customer, e.kind)], dry_run=dry_run,
                collect=None if dry_run else collect, indexed=True, dropped=dropped)
            out = Outcome(e.source, e.customer, e.name, action, "; ".join(r for r in (reason, e.note) if r))
        except PermissionDenied as exc:
            raise PermissionDenied(f"{exc.message} (writing {e.customer}/{e.name}); "
                                   "importing needs a team lead or admin") from None
        except NetvaultError as exc:
            out = Outcome(e.source, e.customer, e.name, "failed", exc.message)
        if progress is not None:
            with lock:
                done[0] += 1
                progress(done[0], total)
        return out

    results: dict[int, Outcome] = {}
    for kind in ORDER:
        batch = [(i, e) for i, e in enumerate(plan.entries) if e.kind == kind]
        if kind == "devices" and batch and not dry_run:
            # the global index entries of every device in the file, before
            # any record: one check-and-set per touched bucket, not one list
            # per device (a crash then leaves stale entries, which find and
            # the shared-MAC check verify against the record, never missing ones)
            ahead = [x for _, e in batch for x in store.index_ahead(e.customer, e.name, e.fields)]
            index.edit(store.vault, store.kv, adds=ahead, threads=threads)
        outs = lookup.parallel(store.vault, [e for _, e in batch], one, threads=threads)
        results.update({i: o for (i, _), o in zip(batch, outs)})
    if dropped:
        store.index_drop_settled(dropped, threads=threads)
    if collected:
        from netvault.records import reach

        def search_document(client, customer):
            reach.edit_search(client, store.kv, customer, collected[customer], only_newer=True)
            reach.propagate(client, store.kv, customer)

        lookup.parallel(store.vault, sorted(c for c, got in collected.items() if got), search_document, threads=threads)
    outcomes = [results[i] for i in range(len(plan.entries))] + list(plan.skipped)
    return sorted(outcomes, key=lambda o: _source_key(o.source))


def _source_key(source: str):
    if source.startswith("row ") and source[4:].isdigit():
        return (0, int(source[4:]), "")
    return (1, 0, source)
