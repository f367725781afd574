"""Progress of long work, one mechanism for all of mn: collection, experts, contact sheets,
dataset caches and training.

A terminal gets a tqdm bar; anything else (logs, CI, pipes) gets a line every `every_s`
seconds and at the end, on stderr:

    [mn collect] 12/24 episodes, 0 failed, 21.3/min, elapsed 0m34s, ETA 0m34s

ROS-free and torch-free (mn_models uses it too).
"""
from __future__ import annotations

import sys
import time


def fmt_time(seconds: float) -> str:
    s = int(round(max(0.0, seconds)))
    return (f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600
            else f"{s // 60}m{s % 60:02d}s")


class Progress:
    """`total` units of work labelled `label`; call update() once per unit (or with n)."""

    def __init__(self, label: str, total: int, unit: str = "items", every_s: float = 10.0,
                 stream=None, per: str = "s", bar: bool | None = None, start: int = 0):
        self.label, self.total, self.unit, self.every_s = label, int(total), unit, every_s
        self.per = per                     # rate shown per "s" or per "min"
        self.stream = stream or sys.stderr
        self.done, self.failed = int(start), 0   # start: units done before (a resumed run)
        self._start = int(start)
        self.t0 = time.monotonic()
        self._last = self.t0
        self._bar = None
        use_bar = bar if bar is not None else getattr(self.stream, "isatty", lambda: False)()
        if use_bar and self.total:
            from tqdm import tqdm
            self._bar = tqdm(total=self.total, initial=self.done, unit=unit, desc=label,
                             file=self.stream, dynamic_ncols=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def rate(self) -> float:
        """Completed units per `per` (failures take time but are not progress)."""
        el = self.elapsed
        r = (self.done - self._start) / el if el > 0 else 0.0
        return r * 60.0 if self.per == "min" else r

    def line(self, extra: str = "") -> str:
        r = self.rate()
        left = self.total - self.done - self.failed
        eta = fmt_time(left / r * (60.0 if self.per == "min" else 1.0)) if r > 0 else "?"
        failed = f", {self.failed} failed" if self.failed else ""
        extra = f", {extra}" if extra else ""
        return (f"[{self.label}] {self.done}/{self.total} {self.unit}{failed}{extra}, "
                f"{r:.2f}/{self.per}, elapsed {fmt_time(self.elapsed)}, ETA {eta}")

    def update(self, n: int = 1, ok: bool = True, extra: str = "", force: bool = False,
               quiet: bool = False) -> None:
        """n units finished (ok=False: failed). `extra` is shown in the line (e.g. a loss);
        quiet=True counts without printing (e.g. work that was already done)."""
        if ok:
            self.done += n
        else:
            self.failed += n
        if self._bar is not None:
            self._bar.update(n)
            if extra:
                self._bar.set_postfix_str(extra)
            return
        now = time.monotonic()
        finished = self.done + self.failed >= self.total
        if not quiet and (force or finished or now - self._last >= self.every_s):
            self._last = now
            print(self.line(extra), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def map_jobs(fn, jobs: list, workers: int, report) -> None:
    """fn(job) for every job, in this process (workers <= 1 or one job) or in a pool of
    spawned processes; report(result) as each finishes (in completion order). fn must be a
    module-level function (spawned workers import it by name)."""
    if workers <= 1 or len(jobs) <= 1:
        for j in jobs:
            report(fn(j))
        return
    import multiprocessing as mp
    with mp.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
        for r in pool.imap_unordered(fn, jobs):
            report(r)
