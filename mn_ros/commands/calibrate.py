"""`mn calibrate`: the observer's "none of these" rule, calibrated on held-out data only.

    mn calibrate --checkpoint RUN --data D --nontask DIR [--nontask-seed 0] [--per-kind 8]
        prototypes from D's train split, the statistic and threshold from D's val split
        (the checkpoint's held-out demonstrations) against the non-task videos in DIR (made
        there first when DIR has none: static scenes, grey and noise frames, the arm moving at
        random, demonstrations of tasks outside the checkpoint's vocabulary); the rule is
        written atomically into the checkpoint folder as open_set.json, where the observer
        node finds it.
    mn calibrate --evaluate --checkpoint RUN --data TEST --nontask DIR2 --nontask-seed 1 \\
                 --out docs/results/open_set
        the stored rule, unchanged, on test videos (a dataset collected with another seed,
        non-task videos of another seed): AUROC and the false-recognition rate, as JSON and
        markdown in --out. Refuses the calibration data and non-task videos.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from mn_ros.commands.argtypes import SEED_MAX, int_in

HELP = "calibrate the observer's open-set ('none of these') rule on held-out data; --evaluate"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="au/mn/probe checkpoint or run folder")
    parser.add_argument("--data", required=True,
                        help="calibration: the dataset the checkpoint trained on (its val split "
                             "is used); --evaluate: a test dataset collected separately")
    parser.add_argument("--nontask", required=True, metavar="DIR",
                        help="folder of non-task videos (generated there when it has none; "
                             "one that holds some is used as it is)")
    parser.add_argument("--nontask-seed", type=int_in(0, SEED_MAX), default=0,
                        help="seed of the non-task videos (use another one to evaluate)")
    parser.add_argument("--per-kind", type=int_in(1, 10000), default=8,
                        help="non-task videos of each kind to generate")
    parser.add_argument("--evaluate", action="store_true",
                        help="evaluate the stored rule on test videos instead of calibrating")
    parser.add_argument("--split", default="all", choices=["all", "val", "train"],
                        help="--evaluate: episodes of the test dataset to use (default all)")
    parser.add_argument("--out", default="", help="--evaluate: folder for open_set.json / .md")
    parser.add_argument("--threads", type=int_in(1, 256), default=1, help="torch threads")


def _nontask(args, checkpoint) -> None:
    """Generate the non-task videos into --nontask unless it holds them (of --nontask-seed)."""
    from mn_sim import nontask
    folder = Path(args.nontask)
    if (folder / nontask.INDEX).is_file():
        if nontask.settings(folder)["seed"] != args.nontask_seed:
            raise ValueError(f"{folder} holds non-task videos of seed "
                             f"{nontask.settings(folder)['seed']}, not --nontask-seed "
                             f"{args.nontask_seed}: use another folder")
        return
    tasks = sorted(set(checkpoint.meta.get("tasks", [])))
    nontask.generate(folder, args.per_kind, seed=args.nontask_seed, exclude_tasks=tasks,
                     log=lambda m: print(m, file=sys.stderr))


def run(args: argparse.Namespace) -> int:
    from mn_models.checkpoint import CheckpointError, open_checkpoint
    from mn_models.eval import open_set
    from mn_models.eval.common import EvalError
    try:
        c = open_checkpoint(args.checkpoint, need=("recognizer",))
        _nontask(args, c)
        if not args.evaluate:
            path, rule = open_set.run_calibration(c.path, args.data, args.nontask, args.threads)
            cal = rule.calibration
            print(json.dumps({"sidecar": str(path), "statistic": rule.statistic,
                              "threshold": rule.threshold,
                              "per_statistic": cal["per_statistic"],
                              "val_accept_known": cal["val_accept_known"],
                              "val_accept_unknown": cal["val_accept_unknown"]}, indent=1))
            return 0
        result = open_set.run_evaluation(c.path, args.data, args.nontask, args.split,
                                         args.threads)
    except (open_set.OpenSetError, CheckpointError, EvalError, FileNotFoundError,
            ValueError) as e:
        print(f"mn calibrate: {e}", file=sys.stderr)
        return 2
    command = " ".join(["mn calibrate --evaluate", *(
        f"{flag} {shlex.quote(str(value))}" for flag, value in (
            ("--checkpoint", args.checkpoint), ("--data", args.data),
            ("--nontask", args.nontask), ("--nontask-seed", args.nontask_seed),
            ("--split", args.split), ("--out", args.out)) if value != "")])
    result["command"] = command
    if args.out:
        from mn_models.eval.report import atomic_write
        out = Path(args.out)
        atomic_write(out / "open_set.json", json.dumps(result, indent=1) + "\n")
        atomic_write(out / "open_set.md", open_set.markdown(result, command))
        print(f"wrote {out / 'open_set.json'} and {out / 'open_set.md'}", file=sys.stderr)
    print(json.dumps({k: result[k] for k in ("statistic", "threshold", "auroc",
                                             "false_recognition_rate", "known_accept_rate",
                                             "false_recognition_by_kind")}, indent=1))
    return 0
