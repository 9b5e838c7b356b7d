"""Pure functions: no server needed."""

from datetime import datetime, timezone

import pytest

from netvault.values import durations
from netvault.values import names
from netvault.errors import (
    Conflict, ExitCode, NotFound, NotLoggedIn, PermissionDenied, Sealed, UsageError,
)
from netvault.vault.client import map_http_error
from netvault.server.setup import validate_patterns


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("15m", 900), ("4h", 14400), ("7d", 604800), ("1h30m", 5400), ("2w", 1209600), ("3600", 3600)])
def test_durations_parse(text, seconds):
    assert durations.parse_seconds(text) == seconds


@pytest.mark.parametrize("bad", ["0s", "-1h", "4 hours", "", "h", "1.5h", "999y", "4H"])
def test_durations_refuse(bad):
    with pytest.raises(UsageError):
        durations.parse(bad, maximum=7 * 86400)


def test_duration_bounds():
    with pytest.raises(UsageError, match="too long"):
        durations.parse("30d", maximum=7 * 86400)
    assert durations.format_seconds(5400) == "1h30m"


def test_since_accepts_dates_and_durations():
    now = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)
    assert durations.parse_since("7d", now) == datetime(2026, 11, 18, 12, tzinfo=timezone.utc)
    assert durations.parse_since("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=timezone.utc)
    with pytest.raises(UsageError):
        durations.parse_since("yesterday", now)


@pytest.mark.parametrize("good", ["acme", "acme-bv", "a.b_c-1", "0x"])
def test_slug_accepts(good):
    assert names.slug(good) == good


@pytest.mark.parametrize("bad", ["", "Acme", "a/b", "..", "a..b", "-x", "a\nb", "a\x1b[31m", "caf\u00e9", "a" * 65, "a b", "\u0430cme"])
def test_slug_refuses(bad):
    with pytest.raises(UsageError) as err:
        names.slug(bad)
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)


def test_record_ref():
    assert names.record_ref("acme/router") == ("acme", "router")
    for bad in ("acme", "acme/a/b", "/x", "acme/../x"):
        with pytest.raises(UsageError):
            names.record_ref(bad)


@pytest.mark.parametrize("status,errors,kind", [
    (503, ["Vault is sealed"], Sealed),
    (501, ["Vault is not initialized"], Sealed),
    (403, ["permission denied"], PermissionDenied),
    (404, [], NotFound),
    (400, ["check-and-set parameter did not match the current version"], Conflict),
    (400, ["invalid something"], UsageError),
])
def test_http_error_mapping(status, errors, kind):
    assert isinstance(map_http_error(status, errors, "x"), kind)


def test_expired_token_maps_to_not_logged_in():
    err = map_http_error(403, ["permission denied"], "x", token_valid=False)
    assert isinstance(err, NotLoggedIn) and err.exit_code == ExitCode.NOT_LOGGED_IN


def test_incident_patterns_validated():
    assert validate_patterns(["INC-*", "*-P1"]) == ["INC-*", "*-P1"]
    for bad in (["IN*C"], ["a,b"], [], ['x"y'], ["*a*"]):
        with pytest.raises(UsageError):
            validate_patterns(bad)
