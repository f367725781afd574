"""`mn demo`: the main job on the embedded default (MuJoCo Panda).

For now: collect a few demonstrations of a few tasks (resumable, reused on a second run), check
that they load back, and write an mp4 of one. Later issues grow this into the ROS 2 demo.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

HELP = "the main job: collect a few demonstrations and write an mp4 of one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--tasks", default="open_drawer,turn_tap,push_buttons",
                        help="tasks to demonstrate (those that exist are used)")
    parser.add_argument("--episodes-per-task", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from mn_sim.collect import CollectConfig, collect
    from mn_sim.dataset import DemoDataset
    from mn_sim.tasks.registry import task_names

    tasks = [t for t in args.tasks.split(",") if t in task_names()] or ["open_drawer"]
    out = Path(args.out)
    data = out / "data"
    print(f"[mn demo] collecting {args.episodes_per_task} demonstration(s) of {', '.join(tasks)} "
          f"-> {data}", file=sys.stderr)
    summary = collect(CollectConfig(tasks=tasks, episodes_per_task=args.episodes_per_task,
                                    out=data, workers=args.workers, seed=args.seed))
    print(summary, file=sys.stderr)
    ds = DemoDataset(data, tasks=tasks)
    if len(ds) == 0:
        print("[mn demo] no episode was collected", file=sys.stderr)
        return 1
    ep = ds[0]
    video = out / "demo.mp4"
    shutil.copyfile(ep.video_path, video)
    print(f"\n{'task':<16} {'episode':<9} {'frames':>6} {'keyframes':>9}  instruction")
    for i in range(len(ds)):
        e = ds[i]
        print(f"{e.task:<16} {Path(e.path).name:<9} {e.num_frames:>6} {len(e.keyframes):>9}  "
              f"{e.descriptions[0]}")
    print(f"\nvideo of '{ep.descriptions[0]}': {video}")
    return 0 if summary.ok else 1
