"""The `mn` command-line tool. Subcommands are imported lazily so `mn --help` is instant.

Each subcommand lives in mn_ros/commands/<name>.py with:
    HELP = "one line"
    def add_arguments(parser: argparse.ArgumentParser) -> None
    def run(args: argparse.Namespace) -> int

`main` first sets the environment defaults of mn_ros/environment.py (headless EGL rendering,
localhost ROS 2 discovery over UDPv4, offline Hugging Face flags) where the user has not set
them, before any subcommand imports mujoco or rclpy; the processes mn starts inherit them.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from mn_ros.environment import apply_defaults

# name -> one-line help (shown without importing the module)
COMMANDS = {
    "tasks": "list the simulated RLBench tasks, their variations and instructions",
    "experts": "run the scripted expert of each task and print its success rate",
    "collect": "collect demonstrations in the RLBench/PerAct layout (resumable)",
    "export": "rewrite a dataset in another format: mn <-> RLBench/PerAct (ARP, RVT-2)",
    "bench": "benchmarks that print numbers (mn bench sim|train|ros|camera)",
    "train": "train au|ee|mn|probe models into a run folder (checkpoints, TensorBoard logs)",
    "eval": "evaluate checkpoints: recognition (au), rollouts (ee), alignment (probe), t-SNE",
    "demo": "the main job: demos, a tiny mn checkpoint, a held-out demo shown to the ROS 2 graph",
    "bringup": "start a profile of the ROS 2 graph (sim | observe | mirror) as separate processes",
    "play": "publish a demonstration (mp4, episode folder or ROS 2 bag) on an image topic",
    "calibrate": "calibrate the observer's open-set ('none of these') rule on held-out data; "
                 "--evaluate",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mn", description="mn: mirror-neuron manipulation stack")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_command=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    apply_defaults()   # before a subcommand's module imports mujoco or rclpy
    parser = build_parser()
    # Two-phase parse: find the subcommand, then let its module add its own arguments.
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser.parse_args(argv or ["--help"])
        return 2
    name = argv[0]
    module = importlib.import_module(f"mn_ros.commands.{name}")
    p = argparse.ArgumentParser(prog=f"mn {name}", description=COMMANDS[name])
    module.add_arguments(p)
    args = p.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
