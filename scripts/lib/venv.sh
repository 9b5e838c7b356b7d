# Sourced by scripts/*: make sure .venv exists and holds netvault + its deps.
# Reinstalls only when pyproject.toml or constraints.txt changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${NETVAULT_VENV:-$ROOT/.venv}"

pick_python() {
  for py in python3.13 python3.12 python3.11 python3; do
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  echo "netvault needs Python 3.11 or newer" >&2
  return 1
}

ensure_venv() {
  # One environment for demo, test and bench: always with the server and test
  # extras, so running one script after another never reinstalls.
  local extras="server,test"
  local stamp="$VENV/.netvault-installed"
  local want
  want="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -c1-16)-${extras}"
  if [ ! -x "$VENV/bin/python" ]; then
    "$(pick_python)" -m venv "$VENV"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing netvault into $VENV ..." >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip >&2
    local spec="$ROOT"
    [ -n "$extras" ] && spec="$ROOT[$extras]"
    # constraints.txt pins every package an install gets: a new release of a
    # dependency cannot change speed or behaviour unseen.
    "$VENV/bin/python" -m pip install -q -c "$ROOT/constraints.txt" -e "$spec" >&2
    echo "$want" > "$stamp"
  fi
  # Byte-compile netvault's own sources: an editable install does not, and
  # where PYTHONDONTWRITEBYTECODE is set every command would recompile them
  # (~15 ms per start). Only changed files are recompiled.
  "$VENV/bin/python" -m compileall -q "$ROOT/src/netvault" >/dev/null || true
  export PATH="$VENV/bin:$PATH"
}
