"""argparse ``type=`` checkers shared by the `mn` sub-commands: a bad flag value is refused at
parse time (exit status 2) with argparse's "argument --flag: ..." naming the flag, the value
and what is allowed -- before anything is loaded or written.

    p.add_argument("--episodes", type=int_in(1), default=25)
    p.add_argument("--seeds", type=int_list(0), default="")     # validated, kept as text

Import-light (argparse only; task names are looked up when a --tasks value is parsed).
"""
from __future__ import annotations

import argparse
import math

SEED_MAX = 2 ** 31 - 1


def _range_text(lo, hi) -> str:
    if hi is None:
        return f">= {lo}"
    return f"in [{lo}, {hi}]"


def int_in(lo: int, hi: int | None = None):
    """An integer >= lo (and <= hi)."""
    def parse(text: str) -> int:
        try:
            v = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer {_range_text(lo, hi)}; got "
                                             f"{text!r}") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"expected an integer {_range_text(lo, hi)}; got {v}")
        return v
    parse.__name__ = "integer"
    return parse


def float_in(lo: float, hi: float | None = None, *, lo_open: bool = False):
    """A finite number >= lo (> lo with lo_open; and <= hi)."""
    want = (f"> {lo:g}" if lo_open else f">= {lo:g}") + (f" and <= {hi:g}" if hi is not None
                                                          else "")

    def parse(text: str) -> float:
        try:
            v = float(text.strip())
        except ValueError:
            v = math.nan
        if not math.isfinite(v) or (v <= lo if lo_open else v < lo) or (hi is not None
                                                                         and v > hi):
            raise argparse.ArgumentTypeError(f"expected a number {want}; got {text!r}")
        return v
    parse.__name__ = "number"
    return parse


def int_list(lo: int = 0, hi: int | None = SEED_MAX, *, allow_all: bool = False):
    """Comma-separated integers (each in range), e.g. 0,1,2; returned as the text given (empty
    text stays empty: the flag's default applies); with allow_all "all" is accepted too."""
    def parse(text: str) -> str:
        if text.strip() == "" or (allow_all and text.strip() == "all"):
            return text.strip()
        items = [t.strip() for t in text.split(",")]
        what = (f"comma-separated integers {_range_text(lo, hi)} like 0,1,2"
                + (", or 'all'" if allow_all else ""))
        try:
            values = [int(t) for t in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}") from None
        bad = [v for v in values if v < lo or (hi is not None and v > hi)]
        if bad:
            raise argparse.ArgumentTypeError(f"expected {what}; got {text!r} ({bad} out of range)")
        return ",".join(str(v) for v in values)
    parse.__name__ = "integer list"
    return parse


def task_list(text: str) -> str:
    """Comma-separated mn_sim task names (see `mn tasks`); "" = the default. Returned as text."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if text.strip() and len(names) != len(text.split(",")):
        raise argparse.ArgumentTypeError(f"expected comma-separated task names; got {text!r} "
                                         f"(an empty name between commas)")
    if names:
        from mn_sim.tasks.registry import task_names
        known = task_names()
        unknown = [t for t in names if t not in known]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown task(s) {', '.join(unknown)} in {text!r}; "
                                             f"known tasks: {', '.join(known)}")
    return ",".join(names)


task_list.__name__ = "task list"
