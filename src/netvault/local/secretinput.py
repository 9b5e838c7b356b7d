"""Where secret values come from: never the command line.

A hidden prompt asked twice, standard input (one value per line), or
generated with the ``secrets`` module: a random password or a passphrase of
words from the EFF large word list shipped in the package.
"""

from __future__ import annotations

import secrets
import string
import sys

from netvault.errors import UsageError

SYMBOLS = "!#$%&*+-=?@^_~"
ALPHABET = string.ascii_letters + string.digits + SYMBOLS
MIN_LENGTH, MAX_LENGTH, DEFAULT_LENGTH = 8, 128, 24
MIN_WORDS, MAX_WORDS = 3, 20
_WORDS: list[str] | None = None


def wordlist() -> list[str]:
    global _WORDS
    if _WORDS is None:
        from importlib.resources import files

        # package data (the EFF Large Wordlist, CC BY 3.0 US: see the file's header)
        text = files("netvault.data").joinpath("wordlist_eff.txt").read_text(encoding="utf-8")
        _WORDS = [w for w in text.split("\n") if w and not w.startswith("#")]
    return _WORDS


def generate_password(length: int = DEFAULT_LENGTH) -> str:
    """Random password with at least one lower, upper, digit and symbol."""
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise UsageError(f"--length must be between {MIN_LENGTH} and {MAX_LENGTH}")
    while True:
        value = "".join(secrets.choice(ALPHABET) for _ in range(length))
        if (any(c.islower() for c in value) and any(c.isupper() for c in value)
                and any(c.isdigit() for c in value) and any(c in SYMBOLS for c in value)):
            return value


def generate_passphrase(words: int) -> str:
    if not MIN_WORDS <= words <= MAX_WORDS:
        raise UsageError(f"--words must be between {MIN_WORDS} and {MAX_WORDS}")
    pool = wordlist()
    return "-".join(secrets.choice(pool) for _ in range(words))


def generate(length: int | None = None, words: int | None = None) -> str:
    if words is not None:
        if length is not None:
            raise UsageError("give --length or --words, not both")
        return generate_passphrase(words)
    return generate_password(length or DEFAULT_LENGTH)


class StdinLines:
    """Secret values from standard input, one per line, in a documented order."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdin

    def next(self, what: str) -> str:
        line = self.stream.readline()
        value = line.rstrip("\r\n")
        if not value:
            raise UsageError(f"no {what} on standard input (one value per line)")
        return value


def prompt_twice(what: str) -> str:
    """Hidden prompt, asked twice; needs a terminal."""
    import getpass

    if not sys.stdin.isatty():
        raise UsageError(f"no terminal to prompt for the {what}; use --stdin or --generate")
    first = getpass.getpass(f"{what.capitalize()}: ")
    if not first:
        raise UsageError(f"empty {what}; nothing stored")
    second = getpass.getpass(f"{what.capitalize()} (again): ")
    if first != second:
        raise UsageError(f"the two {what} entries differ; nothing stored")
    return first


def collect(fields: list[str], *, stdin: bool, generate_first: str | None = None) -> dict[str, str]:
    """Values for ``fields`` in order. ``generate_first``: value for the first field
    (already generated); the rest come from stdin lines or prompts."""
    out: dict[str, str] = {}
    lines = StdinLines() if stdin else None
    for i, field in enumerate(fields):
        what = field.replace("_", " ") if field != "totp" else "TOTP seed"
        if i == 0 and generate_first is not None:
            out[field] = generate_first
        elif lines is not None:
            out[field] = lines.next(what)
        else:
            out[field] = prompt_twice(what)
    return out


def passphrase(what: str, *, twice: bool, stream=None) -> str:
    """A passphrase: a hidden prompt on a terminal (asked twice when ``twice``),
    otherwise lines of standard input (two equal lines when ``twice``)."""
    stream = stream or sys.stdin
    if stream.isatty():
        import getpass

        first = getpass.getpass(f"{what.capitalize()}: ")
        if not first:
            raise UsageError(f"empty {what}")
        if twice and getpass.getpass(f"{what.capitalize()} (again): ") != first:
            raise UsageError(f"the two {what} entries differ")
        return first
    lines = StdinLines(stream)
    first = lines.next(what)
    if twice and lines.next(f"{what} (second line, the same again)") != first:
        raise UsageError(f"the two {what} lines on standard input differ")
    return first
