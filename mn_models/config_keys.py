"""One check for every config dataclass: a key that is not a field is an error that names it,
suggests the closest field and lists the valid ones."""
from __future__ import annotations

import dataclasses
import difflib


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
