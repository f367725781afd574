"""`mn bench sim|train|ros|camera`: benchmarks that print numbers (and ratios measured in the same
run).

    mn bench sim [--json] [--tasks open_drawer,...] [--episodes-per-task 4]
    mn bench sim --per-task --tasks all [--json]   # collection episodes/min of each task
    mn bench ros [--json] [--checkpoint RUN] [--trials 100]
    mn bench train [--json] [--steps 5] [--latency-reps 20]
    mn bench camera [--json] [--checkpoint RUN] [--duration 60] [--rate 30] [--qos both]
        [--out docs/results/speed/bench_camera.json]   # camera streams to an observer node
"""
from __future__ import annotations

import argparse
import json
import sys

HELP = "benchmarks that print numbers (mn bench sim|train|ros|camera)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=["sim", "train", "ros", "camera"],
                        help="which benchmark")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--tasks", default="open_drawer,turn_tap,push_buttons,stack_blocks",
                        help="tasks used for the collection rate (those that exist are used)")
    parser.add_argument("--episodes-per-task", type=int, default=4)
    parser.add_argument("--per-task", action="store_true",
                        help="sim: collection rate of each task alone (one process, 20 Hz)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="train: timed steps per mode")
    parser.add_argument("--warmup", type=int, default=2, help="train: untimed steps per mode")
    parser.add_argument("--latency-reps", type=int, default=20,
                        help="train: timed inference calls per model")
    parser.add_argument("--threads", type=int, default=0,
                        help="train: torch threads for training steps (0 = the tiny configs')")
    parser.add_argument("--checkpoint", default=None,
                        help="ros: mn checkpoint or run folder (default: a tiny untrained one)")
    parser.add_argument("--trials", type=int, default=100, help="ros: trials per latency")
    parser.add_argument("--duration", type=float, default=60.0,
                        help="camera: seconds per stream (640x480 rgb8, 1280x720 jpeg)")
    parser.add_argument("--rate", type=float, default=30.0, help="camera: frames per second")
    parser.add_argument("--qos", choices=["reliable", "best_effort", "both"], default="both",
                        help="camera: the observer's image QoS to measure (default both)")
    parser.add_argument("--out", default="", help="camera: also write the JSON to this file")


def run(args: argparse.Namespace) -> int:
    if args.what == "camera":
        from mn_ros.bench_ros import report_camera
        if args.duration <= 0 or args.rate <= 0:
            print("mn bench camera: --duration and --rate must be > 0", file=sys.stderr)
            return 2
        return report_camera(args.checkpoint, args.duration, args.rate, args.qos, args.json,
                             args.out)
    if args.what == "ros":
        from mn_ros.bench_ros import report
        return report(args.checkpoint, args.trials, args.json)
    if args.what == "train":
        import sys

        from mn_models.bench_train import format_report, run_bench
        try:
            res = run_bench(steps=args.steps, warmup=args.warmup, latency_reps=args.latency_reps,
                            threads=args.threads or None)
        except ValueError as e:
            print(f"mn bench train: {e}", file=sys.stderr)
            return 2
        print(json.dumps(res) if args.json else format_report(res))
    if args.what == "sim":
        from mn_sim.bench import run_all
        from mn_sim.tasks.registry import task_names
        wanted = [t for t in args.tasks.split(",") if t]
        tasks = list(task_names()) if wanted == ["all"] else \
            [t for t in wanted if t in task_names()] or ["open_drawer"]
        res = run_all(tasks, args.episodes_per_task, args.workers, args.per_task)
        if args.json:
            print(json.dumps(res))
        elif args.per_task:
            print(f"collection, one process, 20 Hz frames, {args.episodes_per_task} episodes "
                  "per task:")
            for t, r in res["episodes_per_min_per_task"].items():
                print(f"  {t:<30} {r:6.1f} episodes/min")
        else:
            print(f"tasks: {', '.join(tasks)}; {args.workers} workers")
            print(f"render, 4 cameras RGB-D 128x128 : {res['render_fps_4cam']:8.1f} frames/s (goal >= 14)")
            print(f"physics real-time factor        : {res['realtime_factor']:8.1f} x")
            print(f"collection, keyframe-only       : {res['episodes_per_min_keyframes']:8.1f} "
                  "episodes/min (goal >= 20)")
            print(f"collection, 20 Hz frames        : {res['episodes_per_min_default']:8.1f} episodes/min")
    return 0
