"""Issue 15 (daily use): small everyday fixes, run through the real command."""

from netvault.errors import ExitCode


def test_top_level_typo_suggests_lazy_command(cli):
    res = cli("revael", "x/y.password")
    assert res.returncode == int(ExitCode.USAGE)
    assert "No such command 'revael'. Did you mean 'reveal'" in res.stderr, res.stderr
    assert res.stdout == ""


def test_top_level_nonsense_gets_no_suggestion(cli):
    res = cli("zzzzqqq")
    assert res.returncode == int(ExitCode.USAGE)
    assert "No such command 'zzzzqqq'." in res.stderr and "Did you mean" not in res.stderr


def test_sub_command_typo_still_suggests(cli):
    res = cli("credential", "shwo")
    assert res.returncode == int(ExitCode.USAGE)
    assert "Did you mean 'show'?" in res.stderr, res.stderr
