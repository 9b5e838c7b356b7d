"""Moving in: import records from CSV, KeePass and Bitwarden files (issue 12).

Each source module turns a file into a ``plan.Plan`` (typed entries, one per
source entry, plus every problem found); ``apply`` checks the plan against
Vault (customers exist, links resolve) and writes it through
``records.Store.write_record``. Nothing here prints or imports typer.
"""
