"""Where evaluation results go and how they are written: markdown tables, JSON and PNG files
in an output folder (default ``<run dir>/eval_<kind>/``), each written atomically."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Sequence


def run_dir_of(checkpoint_path) -> Path:
    """The run folder of a checkpoint folder ``<run>/checkpoints/step_N`` (else the folder)."""
    p = Path(checkpoint_path)
    return p.parent.parent if p.parent.name == "checkpoints" else p


def output_dir(out, checkpoint_path, kind: str) -> Path:
    """``out`` if given, else ``<run dir of checkpoint>/eval_<kind>``; created."""
    d = Path(out) if out else run_dir_of(checkpoint_path) / f"eval_{kind}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def atomic_write(path, data: bytes | str) -> Path:
    """Write to a temporary file in the same folder, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o644)   # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path, obj) -> Path:
    return atomic_write(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A GitHub markdown table; cells are str()-ed."""
    lines = ["| " + " | ".join(str(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def wide_table(first: str, columns: Sequence[str], rows: dict[str, dict[str, str]],
               average: str = "Avg.") -> str:
    """The paper's layout: one row per method/checkpoint, one column per task, then Avg."""
    header = [first, *columns, average]
    return markdown_table(header, [[name, *(r.get(c, "-") for c in columns), r.get(average, "-")]
                                   for name, r in rows.items()])
