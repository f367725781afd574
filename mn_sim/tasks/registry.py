"""Find tasks by name: mn_sim/tasks/<name>.py defines class CamelCase(<name>)."""
from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from pathlib import Path

_NOT_TASKS = {"base", "registry", "__init__"}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


@lru_cache(maxsize=1)
def task_names() -> tuple[str, ...]:
    here = Path(__file__).parent
    return tuple(sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name not in _NOT_TASKS))


def get_task_class(name: str):
    names = task_names()
    if name not in names:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(names)}")
    module = importlib.import_module(f"mn_sim.tasks.{name}")
    cls = getattr(module, _camel(name), None)
    if cls is None:
        raise ImportError(f"mn_sim/tasks/{name}.py must define class {_camel(name)}")
    return cls


def make_task(name: str):
    return get_task_class(name)()


def parse_task_list(spec: str) -> list[str]:
    """'all' or a comma-separated list -> validated task names."""
    if spec.strip() == "all":
        return list(task_names())
    out = [t.strip() for t in spec.split(",") if t.strip()]
    for t in out:
        get_task_class(t)
    return out
