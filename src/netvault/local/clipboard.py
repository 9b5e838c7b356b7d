"""Put a revealed secret on the clipboard and clear it after a while.

Uses wl-copy (Wayland), xclip or xsel (X11), whichever is there. The clearing
is done by a small detached helper process (``python -m netvault.local.clipboard``)
that receives the secret on its stdin, never on its command line, waits, and
empties the clipboard only if it still holds that secret (so something the
user copied meanwhile is left alone).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time

from netvault.errors import NetvaultError

CLEAR_AFTER = 45


def _tools() -> tuple[list[str], list[str]] | None:
    """(copy argv, paste argv) for the first clipboard tool that can work here."""
    if os.environ.get("WAYLAND_DISPLAY") and shutil.which("wl-copy") and shutil.which("wl-paste"):
        return ["wl-copy"], ["wl-paste", "--no-newline"]
    if os.environ.get("DISPLAY"):
        if shutil.which("xclip"):
            return ["xclip", "-selection", "clipboard", "-in"], ["xclip", "-selection", "clipboard", "-out"]
        if shutil.which("xsel"):
            return ["xsel", "--clipboard", "--input"], ["xsel", "--clipboard", "--output"]
    return None


def available() -> bool:
    return _tools() is not None


def _copy(argv: list[str], value: str) -> None:
    proc = subprocess.run(argv, input=value.encode(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5)
    if proc.returncode != 0:
        raise NetvaultError(f"{argv[0]} failed (exit {proc.returncode}); nothing copied")


def _paste(argv: list[str]) -> bytes | None:
    try:
        return subprocess.run(argv, capture_output=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def require() -> tuple[list[str], list[str]]:
    """The clipboard tools, or the error: called before anything is revealed,
    so a reveal that cannot be copied never reaches the audit trail."""
    tools = _tools()
    if tools is None:
        raise NetvaultError(
            "--copy needs a clipboard: wl-copy (Wayland) or xclip/xsel (X11) and a display; "
            "none found, nothing revealed. Print the secret instead (no --copy)"
        )
    return tools


def copy(value: str, clear_after: int = CLEAR_AFTER) -> str:
    """Copy, start the detached clearer; returns the tool used."""
    copy_argv, _ = require()
    _copy(copy_argv, value)
    proc = subprocess.Popen(
        [sys.executable, "-m", "netvault.local.clipboard", str(int(clear_after))],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(hashlib.sha256(value.encode()).hexdigest().encode() + b"\n")
    proc.stdin.close()
    return copy_argv[0]


def _clear_later(seconds: int) -> None:
    """The helper: only a digest of the secret travels here, on stdin."""
    digest = sys.stdin.readline().strip()
    time.sleep(seconds)
    tools = _tools()
    if tools is None:
        return
    copy_argv, paste_argv = tools
    current = _paste(paste_argv)
    if current is not None and hashlib.sha256(current).hexdigest() == digest:
        _copy(copy_argv, "")


if __name__ == "__main__":
    _clear_later(int(sys.argv[1]) if len(sys.argv) > 1 else CLEAR_AFTER)
