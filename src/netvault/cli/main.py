"""The ``netvault`` command: one top-level error handler, documented exit codes.

Every failure becomes ``error: <one line>`` on stderr and an ``ExitCode``
(``cli/guard.run_guarded``, shared with the lean entry point in ``cli/fast.py``).
``--traceback`` (or ``NETVAULT_DEBUG=1``) re-raises instead, for debugging.
Command modules import only typer at module level, so ``--help`` stays fast.
"""

from __future__ import annotations

import os
import sys

import typer
from typer.core import TyperGroup

from netvault.errors import ExitCode

HELP = """netvault: the credential and network-data vault for managed IT providers.

Customers' passwords, licences and network data live in HashiCorp Vault /
OpenBao; Vault's own policies decide who may see what, and its audit device
records every reveal.

Example:  netvault server up && netvault whoami

Exit codes: 0 ok, 1 error, 2 usage/invalid input, 3 not found, 4 permission
denied, 5 server unreachable, 6 sealed/uninitialised, 7 conflict, 8 not logged
in or token expired, 9 audit trail tampered, 130 interrupted.
"""

app = typer.Typer(
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,  # plain help: rendering with rich costs ~60 ms per call
    context_settings={"help_option_names": ["-h", "--help"]},
)

_debug = {"on": False}


@app.callback()
def _root(
    traceback: bool = typer.Option(False, "--traceback", help="Show the Python traceback of a failure (debugging)."),
    verbose: bool = typer.Option(False, "--verbose", help="Say which server node answered (several addresses); or NETVAULT_VERBOSE=1."),
) -> None:
    if traceback:
        _debug["on"] = True
    if verbose:
        os.environ["NETVAULT_VERBOSE"] = "1"


#: The parts' commands (records, access, audit) are built only when used:
#: typer introspects every option of every command when it builds one, which
#: is ~25 ms for all of them, and `netvault --help` should stay under 80 ms.
_PARTS: dict[str, typer.Typer] = {}


def _text(value) -> str:
    value = getattr(value, "value", value)  # typer's DefaultPlaceholder
    return value if isinstance(value, str) else ""


def _short_help(info) -> str:
    text = _text(info.short_help) or _text(info.help)
    if not text and getattr(info, "typer_instance", None) is not None:
        text = _text(info.typer_instance.info.help)
    if not text and info.callback is not None:
        text = info.callback.__doc__ or ""
    return text.strip().split("\n\n")[0].replace("\n", " ")


def _part_commands(part: typer.Typer) -> dict[str, tuple[str, bool]]:
    """name -> (short help, hidden) of a part's top-level commands, without building them."""
    out = {}
    for info in part.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")
        out[name] = (_short_help(info), bool(info.hidden))
    for info in part.registered_groups:
        name = info.name or _text(info.typer_instance.info.name)
        out[name] = (_short_help(info), bool(info.hidden))
    return out


class LazyGroup(TyperGroup):
    """The top-level group: the parts' commands are built on first use."""

    def _lazy(self) -> dict[str, tuple[typer.Typer, str, bool]]:
        table = getattr(self, "_lazy_table", None)
        if table is None:
            table = {}
            for part in _PARTS.values():
                for name, (short, hidden) in _part_commands(part).items():
                    table[name] = (part, short, hidden)
            self._lazy_table = table
        return table

    def list_commands(self, ctx):
        return list(self.commands) + [n for n in self._lazy() if n not in self.commands]

    def get_command(self, ctx, cmd_name):
        if cmd_name not in self.commands and cmd_name in self._lazy():
            from typer.main import get_command as build

            part = self._lazy()[cmd_name][0]
            built = build(part)
            for name, cmd in getattr(built, "commands", {cmd_name: built}).items():
                self.commands.setdefault(name, cmd)
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx, args):
        # typer suggests only from commands already built; the lazy ones are
        # not built yet, so suggest from every visible name (issue 15).
        try:
            return self._click_resolve_command(ctx, args)
        except Exception as exc:
            if not (args and hasattr(exc, "message") and "Did you mean" not in exc.message):
                raise
            from difflib import get_close_matches

            visible = [n for n in self.list_commands(ctx) if not self._is_hidden(n)]
            matches = get_close_matches(args[0], visible)
            if matches:
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {', '.join(repr(m) for m in matches)}?"
            raise

    def _is_hidden(self, name):
        if name in self.commands:
            return bool(self.commands[name].hidden)
        return bool(self._lazy().get(name, (None, "", False))[2])

    def format_commands(self, ctx, formatter):
        from typer.core import TyperCommand  # public typer API (its click is vendored, typer._click is private)

        rows = []
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        for name in names:
            if name in self.commands:
                cmd = self.commands[name]
                if not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(limit)))
            else:
                _part, short, hidden = self._lazy()[name]
                if not hidden:
                    rows.append((name, TyperCommand(name, help=short).get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app.info.cls = LazyGroup


def _register_core(part: typer.Typer) -> None:
    from netvault.cli import auth, server, setup

    part.add_typer(server.app, name="server")
    part.command("setup")(setup.setup)
    part.command("login")(auth.login)
    part.command("logout")(auth.logout)
    part.command("whoami")(auth.whoami)
    part.command("passwd")(auth.passwd)


def _register() -> None:
    # Every command is in a part, built on first use: `netvault --help` builds
    # none of them (building the server group alone took ~10 ms of --help).
    from netvault.cli import access, audit, doctor, imports, incidents, lifecycle, portable, records

    for module_name, register in (("core", _register_core), ("records", records.register),
                                  ("access", access.register), ("audit", audit.register),
                                  ("doctor", doctor.register), ("imports", imports.register),
                                  ("lifecycle", lifecycle.register), ("incidents", incidents.register),
                                  ("portable", portable.register)):
        part = typer.Typer(rich_markup_mode=None, add_completion=False, pretty_exceptions_enable=False)
        register(part)
        _PARTS[module_name] = part


_register()


def _show_warnings_as_lines() -> None:
    """Domain code reports data it read past (e.g. a torn audit line) with
    ``warnings.warn``; the user sees each one as a ``warning:`` line on stderr."""
    import warnings

    warnings.simplefilter("always", UserWarning)
    warnings.showwarning = lambda message, *_a, **_k: sys.stderr.write(f"warning: {message}\n")


def run(argv: list[str] | None = None) -> None:
    """The full CLI under the one error handler (``cli/guard.run_guarded``) the lean path uses too."""
    from netvault.cli.guard import debug_wanted, run_guarded

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_wanted(argv)
    from typer.main import get_command

    # click's usage errors (no such option, bad value) are ClickException;
    # typer vendors click privately, so reach the class through a public one.
    ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

    command = get_command(app)
    _show_warnings_as_lines()

    def invoke() -> int:
        try:
            result = command.main(args=argv, prog_name="netvault", standalone_mode=False)
        except ClickException as exc:  # usage errors: click's own message, exit 2
            exc.show()
            return exc.exit_code
        except typer.Abort:
            raise KeyboardInterrupt from None
        except typer.Exit as exc:
            return exc.exit_code
        if result == int(ExitCode.INTERRUPTED):  # typer turns Ctrl-C into a silent return of 130
            sys.stderr.write("\ninterrupted\n")
        return result if isinstance(result, int) else 0

    sys.exit(int(run_guarded(invoke, debug=lambda: debug or _debug["on"])))


if __name__ == "__main__":
    run()
