"""`mn bringup <profile> [name:=value ...]`: start a profile of the ROS graph without ros2 launch.

    mn bringup sim checkpoint:=runs/mn task:=open_drawer
    mn bringup mirror checkpoint:=runs/mn record:=true
    mn bringup observe checkpoint:=runs/au --dry-run      # print the commands only

The profiles, their nodes, parameter files (config/ros/) and arguments are those of
launch/<profile>.launch.py: both read mn_ros/graph.py. Each node is its own process
(python -m mn_ros.<node> --ros-args --params-file ...); output is prefixed with the node name;
Ctrl-C stops them all (SIGINT, then SIGTERM, then SIGKILL); if one dies the rest are stopped.
"""
from __future__ import annotations

import argparse
import sys

HELP = "start a profile of the ROS 2 graph (sim | observe | mirror) as separate processes"


def _epilog() -> str:
    from mn_ros.graph import PROFILES, args_for
    lines = ["profiles:"]
    for p in PROFILES.values():
        lines.append(f"  {p.name:8s} {', '.join(n.name for n in p.nodes)}: {p.description}")
    lines.append("arguments (name:=value):")
    seen = set()
    for p in PROFILES.values():
        for a in args_for(p):
            if a.name not in seen:
                seen.add(a.name)
                extra = f" (one of {', '.join(a.choices)})" if a.choices else ""
                lines.append(f"  {a.name} [default {a.default!r}]: {a.description}{extra}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mn_ros.graph import PROFILES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _epilog()
    parser.add_argument("profile", choices=sorted(PROFILES), help="which nodes to start")
    parser.add_argument("args", nargs="*", metavar="NAME:=VALUE",
                        help="launch arguments, as for ros2 launch")
    parser.add_argument("--dry-run", action="store_true", help="print the commands and exit")
    parser.add_argument("--grace", type=float, default=8.0, metavar="S",
                        help="seconds after SIGINT before SIGTERM (then as long again before "
                             "SIGKILL, at most 4 s)")


def parse_assignments(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise ValueError(f"expected NAME:=VALUE, got {item!r}")
        out[name] = value
    return out


def run(args: argparse.Namespace) -> int:
    import shlex

    from mn_ros import graph
    from mn_ros.bringup import Supervisor, child_env
    try:
        profile = graph.get_profile(args.profile)
        values = graph.resolve(profile, parse_assignments(args.args))
    except (KeyError, ValueError) as e:
        print(f"mn bringup: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2
    missing = [f for n in profile.nodes for f in graph.param_files(n) if not f.is_file()]
    if missing:
        print(f"mn bringup: parameter file(s) {[str(f) for f in missing]} not found; set "
              f"{graph.CONFIG_ENV} to the config/ros folder", file=sys.stderr)
        return 2
    commands = {n.name: graph.node_command(n, values) for n in profile.nodes
                if graph.enabled(n, values)}
    if args.dry_run:
        for name, cmd in commands.items():
            print(f"{name}: {shlex.join(cmd)}")
        return 0
    sup = Supervisor(commands, env=child_env(), grace_int=args.grace,
                     grace_term=min(4.0, args.grace))
    return sup.run()
