"""Type checks of suite values, driven by the config dataclasses' own field types.

TOML gives ints, floats, bools, strings, lists and tables; a dataclass field says which it takes
(``int``, ``float``, ``str``, ``bool``, ``tuple[int, ...]`` = a list of integers, ``X | None``).
``check_table`` checks every key of a table against those types before any constructor runs, so a
wrong type fails with the file, the table, the key, the value received and what is allowed, and
never with Python's own words (``'>=' not supported ...``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from results.errors import UserError


def describe(tp: Any) -> str:
    """What a type allows, in a user's words: ``a list of integers``, ``a number``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in typing.get_args(tp) if a is not type(None))
    if origin in (tuple, list):
        item = typing.get_args(tp)[0]
        return "a list of " + _plural(describe(item))
    return {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "a boolean (true or false)",
        dict: "a table",
        list: "a list of tables",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def _plural(text: str) -> str:
    words = {"an integer": "integers", "a number": "numbers", "a string": "strings"}
    if " or " in text:
        return " or ".join(_plural(part) for part in text.split(" or "))
    return words.get(text, text.replace("a boolean", "booleans"))


def matches(value: Any, tp: Any) -> bool:
    """Whether a TOML value fits field type ``tp`` (``True`` is not an int; an int is a float)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in typing.get_args(tp) if a is not type(None))
    if origin in (tuple, list):
        item = typing.get_args(tp)[0]
        return isinstance(value, (list, tuple)) and all(matches(v, item) for v in value)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp in (str, dict):
        return isinstance(value, tp)
    if tp is list:  # a list of tables (models = [{...}])
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    return True  # a type TOML cannot express: the constructor checks it


def field_types(cls: type) -> dict[str, Any]:
    """``{field name: resolved type}`` of a dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def check_value(value: Any, tp: Any, where: str, key: str) -> None:
    """Raise ``ValueError`` naming ``where`` and ``key`` when ``value`` does not fit ``tp``."""
    if not matches(value, tp):
        raise UserError(
            f"{where}: {key} must be {describe(tp)}. Received: {key}={value!r} "
            f"({type(value).__name__})"
        )


# Keys whose list is a sweep axis: each entry makes its own cells, so a repeat would run the
# same cell twice (and count the copy as resumed). Folds have their own check (bench.suite).
SWEPT = frozenset({"seeds", "depths", "residual", "backends", "jit_compile", "precision"})


def check_table(table: Any, types_by_key: dict[str, Any], where: str) -> None:
    """Check that ``table`` is a table, each of its known keys has its allowed type, and no
    sweep axis (``SWEPT``) repeats a value."""
    if not isinstance(table, dict):
        raise UserError(f"{where}: must be a table. Received: {table!r} ({type(table).__name__})")
    for key, value in table.items():
        if key in types_by_key:
            check_value(value, types_by_key[key], where, key)
        if key in SWEPT and isinstance(value, list):
            repeated = sorted({repr(v) for v in value if value.count(v) > 1})
            if repeated:
                raise UserError(
                    f"{where}: {key} repeats {', '.join(repeated)}; each value is its own "
                    f"cells, so list it once. Received: {key}={value!r}"
                )


def check_seeds(seeds: Any, where: str) -> None:
    """Seeds: a non-empty list of integers >= 0."""
    check_value(seeds, tuple[int, ...], where, "seeds")
    if not seeds or any(s < 0 for s in seeds):
        raise UserError(
            f"{where}: seeds must be a non-empty list of integers >= 0. Received: seeds={seeds!r}"
        )
