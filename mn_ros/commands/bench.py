"""`mn bench sim|train|ros`: benchmarks that print numbers (and ratios measured in the same run).

    mn bench sim [--json] [--tasks open_drawer,...] [--episodes-per-task 4]
"""
from __future__ import annotations

import argparse
import json

HELP = "benchmarks that print numbers (mn bench sim|train|ros)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=["sim"], help="which benchmark")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--tasks", default="open_drawer,turn_tap,push_buttons,stack_blocks",
                        help="tasks used for the collection rate (those that exist are used)")
    parser.add_argument("--episodes-per-task", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)


def run(args: argparse.Namespace) -> int:
    if args.what == "sim":
        from mn_sim.bench import run_all
        from mn_sim.tasks.registry import task_names
        wanted = [t for t in args.tasks.split(",") if t]
        tasks = [t for t in wanted if t in task_names()] or ["open_drawer"]
        res = run_all(tasks, args.episodes_per_task, args.workers)
        if args.json:
            print(json.dumps(res))
        else:
            print(f"tasks: {', '.join(tasks)}; {args.workers} workers")
            print(f"render, 4 cameras RGB-D 128x128 : {res['render_fps_4cam']:8.1f} frames/s (goal >= 14)")
            print(f"physics real-time factor        : {res['realtime_factor']:8.1f} x")
            print(f"collection, keyframe-only       : {res['episodes_per_min_keyframes']:8.1f} "
                  "episodes/min (goal >= 20)")
            print(f"collection, 20 Hz frames        : {res['episodes_per_min_default']:8.1f} episodes/min")
    return 0
