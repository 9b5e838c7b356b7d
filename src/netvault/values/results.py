"""Typed results behind ``--json``: the "stable keys" promise in code.

A command's JSON is a frozen dataclass (or a list of them) from the domain
module that produces it, marked ``@json_result``. Its keys are its field
names, plus the names in ``JSON_EXTRA`` (read-only properties), minus those
in ``JSON_OMIT`` (kept in the object, never printed); a key in
``JSON_OPTIONAL`` is left out when its value is None. ``to_json`` turns a
result (nested results, lists, dicts of them) into plain JSON data;
``cli.render.emit_json`` prints it with the keys sorted alphabetically.

``RESULTS`` lists every registered type; ``tests/test_json_keys.py`` checks
each one's keys against the checked-in stable list, so a renamed key fails a
test before it breaks a user's script. Keys of records and settings that
people define themselves (a record's fields) are data, not part of a type.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

#: "module.Class" -> the registered result type
RESULTS: dict[str, type] = {}


def json_result(cls: type[T]) -> type[T]:
    """Register a dataclass as a ``--json`` result type."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    RESULTS[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return cls


def json_keys(cls: type) -> list[str]:
    """The keys a result type prints (sorted, as printed)."""
    omit = set(getattr(cls, "JSON_OMIT", ()))
    keys = [f.name for f in dataclasses.fields(cls) if f.name not in omit]
    return sorted(keys + list(getattr(cls, "JSON_EXTRA", ())))


def to_json(obj: Any) -> Any:
    """Plain JSON data (dict, list, str, int, float, bool, None) for a result."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        cls = type(obj)
        omit = set(getattr(cls, "JSON_OMIT", ()))
        optional = set(getattr(cls, "JSON_OPTIONAL", ()))
        out = {}
        for f in dataclasses.fields(obj):
            if f.name in omit:
                continue
            value = getattr(obj, f.name)
            if value is None and f.name in optional:
                continue
            out[f.name] = to_json(value)
        for name in getattr(cls, "JSON_EXTRA", ()):
            out[name] = to_json(getattr(obj, name))
        return out
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    return obj


def extend(cls: type[T], base: Any, **extra: Any) -> T:
    """An instance of ``cls`` (a dataclass subclass of ``base``'s type) with
    ``base``'s field values and the ``extra`` ones."""
    return cls(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)}, **extra)
