"""`mn train`: train the recognizer (au), the policy (ee), both with alignment (mn), or probe.

    mn train --config config/train/tiny_mn.yaml data=runs/data steps=200 --out runs/mn
    torchrun --nproc_per_node 2 -m mn_ros.cli train --config ... --out runs/mn_ddp
    mn train --config ... --out runs/mn --resume
"""
from __future__ import annotations

import argparse
import sys

HELP = "train au|ee|mn|probe models into a run folder (checkpoints, TensorBoard logs)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML file (config/train/*.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides, e.g. steps=200 alignment.tau=0.2 "
                             "tasks=open_drawer,turn_tap; every key has a type and a range "
                             "(see mn_models/train_config.py); a bad value is refused before "
                             "anything is written to --out")
    parser.add_argument("--out", required=True, help="run folder")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the latest checkpoint in --out")


def run(args: argparse.Namespace) -> int:
    from mn_models.train_config import load_train_config
    try:     # the whole config is checked before torch is imported or --out is touched
        cfg = load_train_config(args.config, args.overrides)
    except (KeyError, ValueError, FileNotFoundError) as e:
        # a KeyError's str() is its message in quotes: show the message itself
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"mn train: {msg}", file=sys.stderr)
        return 2
    from mn_models.checkpoint import CheckpointError
    from mn_models.trainer import TrainingError, train
    try:
        train(cfg, args.out, resume=args.resume)
    except (KeyError, ValueError, FileNotFoundError, CheckpointError, TrainingError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"mn train: {msg}", file=sys.stderr)
        return 2
    return 0
