"""The tree shows the layers (issue 10): a module imports only from its own
layer and the layers below it, lazy imports inside functions included.

    entry   cli/ (and __main__)
    domain  records/ access/ lifecycle/ importing/ audit/ server/
    base    vault/ local/
    values  values/
    errors  errors.py

Rooms of one layer may use each other; nothing imports upward.
"""

from __future__ import annotations

import ast
from pathlib import Path

import netvault

LAYERS = {
    "cli": 4, "__main__": 4,
    "records": 3, "access": 3, "lifecycle": 3, "importing": 3, "audit": 3, "server": 3,
    "vault": 2, "local": 2,
    "values": 1,
    "errors": 0, "__init__": 0, "data": 0,
}
PACKAGE = Path(netvault.__file__).parent


def _room(parts: tuple[str, ...]) -> str:
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "netvault":
            parts = node.module.split(".")
            if len(parts) > 1:
                yield node.lineno, parts[1]
            else:  # from netvault import x
                yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "netvault" and len(parts) > 1:
                    yield node.lineno, parts[1]


def test_every_room_has_a_layer():
    rooms = {_room(p.relative_to(PACKAGE).parts) for p in PACKAGE.rglob("*.py")}
    assert rooms <= set(LAYERS), f"give these rooms a layer in this test: {sorted(rooms - set(LAYERS))}"


def test_imports_only_run_downward():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        room = _room(rel.parts)
        for line, target in _imports(path):
            if target in LAYERS and LAYERS[target] > LAYERS[room]:
                upward.append(f"{rel}:{line} ({room}) imports {target}")
    assert not upward, "imports that run upward:\n" + "\n".join(upward)
