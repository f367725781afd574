"""Checks every config dataclass shares.

- :func:`check_keys`: a key that is not a field is an error that names it, suggests the closest
  field and lists the valid ones.
- :func:`setting` + :func:`validate`: each field carries its allowed range or choices; a value
  of the wrong type or outside the range is a :class:`ConfigError` naming the key, the value and
  what is allowed. The coercions are deliberately few and lossless:

  * int: an int, or a float with an integral value (``steps=1e3`` is 1000); never a bool.
  * float: an int or a float, finite (no nan / inf); never a bool.
  * bool: only true / false (YAML's yes/no/on/off spell the same).
  * str: only a string.
  * list[str]: a list of strings, or one string read as comma-separated names
    (``tasks=open_drawer`` and ``tasks=open_drawer,turn_tap`` are lists).
  * dict: a mapping with string keys.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from typing import Any, Callable, Iterable


class ConfigError(ValueError):
    """A config value of the wrong type or outside its allowed range (names key and value)."""


def check_keys(d, cls, what: str, prefix: str = "") -> dict:
    """Return ``dict(d)`` if every key of ``d`` is a field of dataclass ``cls``, else KeyError.

    ``what`` names the config in the message ("recognizer config"); ``prefix`` is prepended
    to every key shown (``"alignment."`` for a nested section).
    """
    names = [f.name for f in dataclasses.fields(cls)]
    for key in d:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise KeyError(f"unknown {what} key '{prefix}{key}'{hint}; valid keys: "
                           f"{', '.join(prefix + n for n in names)}")
    return dict(d)


def setting(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING,
            ge: float | None = None, gt: float | None = None, le: float | None = None,
            lt: float | None = None, choices: Iterable | Callable[[], Iterable] | None = None,
            nonempty: bool = False, all_word: bool = False):
    """A dataclass field with its rules (checked by :func:`validate`).

    ge/gt/le/lt bound a number; ``choices`` (or a callable returning them, resolved lazily)
    lists the allowed strings -- for a list[str] field, the allowed items; ``nonempty`` refuses
    ""; ``all_word``: a list field given as the single word "all" becomes [] (= all).
    """
    rules = {k: v for k, v in dict(ge=ge, gt=gt, le=le, lt=lt, choices=choices,
                                   nonempty=nonempty or None, all_word=all_word or None).items()
             if v is not None}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata={"rules": rules})
    return dataclasses.field(default=default, metadata={"rules": rules})


def _choices(rules: dict) -> tuple | None:
    c = rules.get("choices")
    if c is None:
        return None
    return tuple(c() if callable(c) else c)


def _num(x) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else repr(x)


def allowed(tp, rules: dict) -> str:
    """What a field accepts, in words ("an integer >= 1", "one of 'au', 'ee'")."""
    bounds = [f"{op} {_num(rules[k])}" for k, op in (("ge", ">="), ("gt", ">"), ("le", "<="),
                                                     ("lt", "<")) if k in rules]
    rng = (" " + " and ".join(bounds)) if bounds else ""
    choices = _choices(rules)
    if tp is int:
        return f"an integer{rng}"
    if tp is float:
        return f"a finite number{rng}"
    if tp is bool:
        return "true or false"
    if tp is str:
        if choices is not None:
            return "one of " + ", ".join(repr(c) for c in choices)
        return "a non-empty string" if rules.get("nonempty") else "a string"
    if typing.get_origin(tp) is list:
        what = "a list of names"
        if choices is not None:
            what += " from " + ", ".join(choices)
        what += " ([a, b] or comma-separated a,b"
        return what + (", or 'all')" if rules.get("all_word") else ")")
    if tp is dict or typing.get_origin(tp) is dict:
        return "a mapping of keys to values"
    return getattr(tp, "__name__", str(tp))


def _bad(key: str, value, tp, rules: dict, why: str = "") -> ConfigError:
    return ConfigError(f"config key '{key}': got {value!r} ({type(value).__name__})"
                       f"{'; ' + why if why else ''}; allowed: {allowed(tp, rules)}")


def coerce(key: str, value, tp, rules: dict | None = None):
    """``value`` converted to field type ``tp`` and checked against ``rules``, else ConfigError."""
    rules = rules or {}
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(key, value, tp, rules)
        if isinstance(value, float):
            if not (math.isfinite(value) and value.is_integer()):
                raise _bad(key, value, tp, rules, "not a whole number")
            value = int(value)
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(key, value, tp, rules)
        value = float(value)
        if not math.isfinite(value):
            raise _bad(key, value, tp, rules)
    elif tp is bool:
        if not isinstance(value, bool):
            raise _bad(key, value, tp, rules)
    elif tp is str:
        if not isinstance(value, str):
            raise _bad(key, value, tp, rules)
        if rules.get("nonempty") and not value.strip():
            raise _bad(key, value, tp, rules)
        choices = _choices(rules)
        if choices is not None and value not in choices:
            raise _bad(key, value, tp, rules)
        return value
    elif typing.get_origin(tp) is list:
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",")]
            if value.strip() and not all(items):
                raise _bad(key, value, tp, rules, "an empty name between commas")
            value = [v for v in items if v]
        elif isinstance(value, (list, tuple)):
            value = list(value)
        else:
            raise _bad(key, value, tp, rules)
        if rules.get("all_word") and value == ["all"]:
            return []
        bad = [v for v in value if not isinstance(v, str) or not v.strip()]
        if bad:
            raise _bad(key, value, tp, rules, f"not names: {bad!r}")
        choices = _choices(rules)
        if choices is not None:
            unknown = [v for v in value if v not in choices]
            if unknown:
                raise _bad(key, value, tp, rules, f"unknown: {', '.join(unknown)}")
        return list(dict.fromkeys(value))     # duplicates dropped, order kept
    elif tp is dict or typing.get_origin(tp) is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _bad(key, value, tp, rules)
        return dict(value)
    else:
        return value
    if not (value >= rules.get("ge", -math.inf) and value > rules.get("gt", -math.inf)
            and value <= rules.get("le", math.inf) and value < rules.get("lt", math.inf)):
        raise _bad(key, value, tp, rules)
    return value


def field_types(cls) -> dict[str, Any]:
    """Field name -> resolved type annotation of dataclass ``cls``."""
    return typing.get_type_hints(cls)


def validate(obj, prefix: str = "") -> None:
    """Coerce and check every field of dataclass instance ``obj`` in place (see module doc).
    Fields without rules are still type-checked when their type is a simple one."""
    hints = field_types(type(obj))
    for f in dataclasses.fields(obj):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            continue                     # nested sections validate themselves
        setattr(obj, f.name, coerce(prefix + f.name, getattr(obj, f.name), tp,
                                    f.metadata.get("rules", {})))
