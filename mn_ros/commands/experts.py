"""`mn experts`: run every task's scripted expert and print the success table.

    mn experts --episodes 25           table (goal: >= 95% for every task)
    mn experts --episodes 25 --json    {"<task>": {"success_rate": r, "episodes": n,
                                        "seconds_per_episode": s, "failures": {...}}, ...}
"""
from __future__ import annotations

import argparse
import json

HELP = "run the scripted expert of each task and print its success rate"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--episodes", type=int, default=25, help="episodes per task (default 25)")
    parser.add_argument("--tasks", default="all", help="comma-separated task names or 'all'")
    parser.add_argument("--seed", type=int, default=0, help="episode k uses seed + k")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from mn_sim.experts import evaluate_experts
    from mn_sim.tasks.registry import parse_task_list
    if args.episodes < 1:
        raise SystemExit("--episodes must be at least 1")
    res = evaluate_experts(parse_task_list(args.tasks), args.episodes, args.seed, args.workers,
                           progress=not args.json)
    if args.json:
        keys = ("success_rate", "episodes", "seconds_per_episode", "failures")
        print(json.dumps({t: {k: r[k] for k in keys} for t, r in res.items()}))
        return 0
    width = max(len(t) for t in res)
    print(f"{'task':<{width}}  success  episodes  s/episode  failures")
    for t, r in res.items():
        fails = ", ".join(f"{k} x{v}" for k, v in r["failures"].items()) or "-"
        print(f"{t:<{width}}  {r['success_rate']:>6.0%}  {r['episodes']:>8}  "
              f"{r['seconds_per_episode']:>9.2f}  {fails}")
    mean = sum(r["success_rate"] for r in res.values()) / len(res)
    print(f"{'average':<{width}}  {mean:>6.0%}")
    return 0
