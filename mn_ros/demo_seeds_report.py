"""Table of `scripts/demo_seeds.sh`: one row per `mn demo --seed K` run (shown, recognized,
executed, success, alignment, wall time), written as demo_seeds.{json,md} next to the runs.

    python -m mn_ros.demo_seeds_report runs/demo_seeds
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def rows(root: Path) -> list[dict]:
    out = []
    for run in sorted(root.glob("s*"), key=lambda p: int(p.name[1:]) if p.name[1:].isdigit()
                      else 1 << 30):
        f = run / "summary.json"
        if not f.is_file():
            continue
        s = json.loads(f.read_text())
        wall = run / "wall_s"
        out.append({
            "seed": int(run.name[1:]), "shown": s["shown"]["instruction"],
            "recognized": s["recognized"]["instruction"],
            "recognized_correct": s["recognized"]["correct"],
            "executed": s["executed"]["instruction"], "steps": s["executed"]["steps"],
            "success": s["success"], "failure_reason": s["executed"]["failure_reason"],
            "cosine": s["alignment"].get("cosine"), "match": s["alignment"].get("match"),
            "trained_steps": s["checkpoint"]["step"],
            "seconds": s["seconds"], "wall_s": float(wall.read_text()) if wall.is_file()
            else None})
    return out


def markdown(rs: list[dict]) -> str:
    lines = ["| seed | shown | recognized | executed | steps | success | cosine | wall (s) |",
             "|---:|---|---|---|---:|---|---:|---:|"]
    for r in rs:
        cos = "" if r["cosine"] is None else f"{r['cosine']:+.2f}"
        lines.append(
            f"| {r['seed']} | {r['shown']} | {r['recognized'] or '(nothing)'}"
            f"{'' if r['recognized_correct'] else ' (wrong)'} | {r['executed']} | {r['steps']} "
            f"| {'yes' if r['success'] else 'no: ' + r['failure_reason']} | {cos} "
            f"| {r['wall_s'] or 0:.0f} |")
    n = len(rs)
    lines.append("")
    lines.append(f"recognized correctly {sum(r['recognized_correct'] for r in rs)}/{n}, "
                 f"success {sum(r['success'] for r in rs)}/{n}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0] if argv else "runs/demo_seeds")
    rs = rows(root)
    if not rs:
        print(f"no demo summaries under {root}", file=sys.stderr)
        return 1
    (root / "demo_seeds.json").write_text(json.dumps(rs, indent=2))
    md = markdown(rs)
    (root / "demo_seeds.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
