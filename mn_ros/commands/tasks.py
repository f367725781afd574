"""`mn tasks`: the simulated RLBench tasks with their variations and instructions.

    mn tasks            a table: task, variation count, canonical instruction of variation 0
    mn tasks --json     {"<task>": {"variation_count": n, "variations": [[descriptions...], ...]}}
    mn tasks --sheets docs/tasks
                        a contact sheet per task (<DIR>/<task>.png): first and last frame of an
                        expert episode for up to 6 variations, from the observer camera
"""
from __future__ import annotations

import argparse
import json

from mn_sim.describe import describe_tasks

HELP = "list the simulated RLBench tasks, their variations and instructions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--tasks", default="all", help="comma-separated task names or 'all'")
    parser.add_argument("--sheets", metavar="DIR", default="",
                        help="write a contact sheet per task to DIR/<task>.png")
    parser.add_argument("--workers", type=int, default=2, help="processes for --sheets")


def run(args: argparse.Namespace) -> int:
    from mn_sim.tasks.registry import parse_task_list
    tasks = parse_task_list(args.tasks)
    if args.sheets:
        from mn_sim.sheets import make_sheets
        for r in make_sheets(tasks, args.sheets, workers=args.workers):
            print(r["path"])
        return 0
    info = describe_tasks(tasks)
    if args.json:
        print(json.dumps(info))
        return 0
    width = max(len(t) for t in info)
    print(f"{'task':<{width}}  variations  instruction (variation 0)")
    for name, d in info.items():
        print(f"{name:<{width}}  {d['variation_count']:>10}  {d['variations'][0][0]}")
    print(f"{len(info)} tasks, {sum(d['variation_count'] for d in info.values())} variations")
    return 0
