"""A test that needs a part of the machine that is not there (a Secret
Service, headless Chromium): skipped with the reason on a developer's
machine, a failure in CI, where .ci/run installs every such part."""

from __future__ import annotations

import os

import pytest


def missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs it: see .ci/run)")
    pytest.skip(reason)
