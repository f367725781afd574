"""`mn bringup <profile> [name:=value ...]`: start a profile of the ROS graph without ros2 launch.

    mn bringup sim                                        # the simulator alone
    mn bringup sim checkpoint:=runs/mn task:=open_drawer  # + the policy
    mn bringup mirror checkpoint:=runs/mn record:=true
    mn bringup --nodes policy,observer checkpoint:=runs/mn   # part of a graph (two hosts)
    mn bringup observe checkpoint:=runs/au --dry-run      # print the commands only

The profiles, their nodes, parameter files (config/ros/), arguments and node selection are
those of launch/<profile>.launch.py: both read mn_ros/graph.py. Each node is its own process
(python -m mn_ros.<node> --ros-args --params-file ... -p autostart:=false), configured and
activated over the standard lifecycle services; output is prefixed with the node name. A node
that fails to configure is reported with its reason and, with on_failure:=shutdown (default),
stops the rest (exit status 1); on_failure:=continue keeps the others running. Ctrl-C stops
them all (SIGINT, then SIGTERM, then SIGKILL).
"""
from __future__ import annotations

import argparse
import sys

HELP = "start a profile of the ROS 2 graph (sim | observe | mirror) as separate processes"
DEFAULT_WITH_NODES = "mirror"   # the profile --nodes picks from when none is named


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
    parser.add_argument("profile", nargs="?", metavar="{" + ",".join(sorted(PROFILES)) + "}",
                        help="which nodes to start (optional with --nodes: then 'mirror', "
                             "the whole graph, is the one --nodes picks from)")
    parser.add_argument("--nodes", metavar="A,B", default=None,
                        help="start only these nodes of the profile, e.g. sim or "
                             "policy,observer (same as nodes:=A,B)")
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
    if args.profile is not None and ":=" in args.profile:   # `mn bringup --nodes a x:=1`
        args.args, args.profile = [args.profile, *args.args], None
    try:
        if args.profile is None and args.nodes is None:
            raise ValueError("name a profile (sim, observe, mirror) or --nodes A,B")
        profile = graph.get_profile(args.profile or DEFAULT_WITH_NODES)
        given = parse_assignments(args.args)
        if args.nodes is not None:
            given["nodes"] = args.nodes
        values = graph.resolve(profile, given)
        nodes = graph.select(profile, values)
    except (KeyError, ValueError) as e:
        print(f"mn bringup: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2
    missing = [f for n in nodes for f in graph.param_files(n) if not f.is_file()]
    if missing:
        print(f"mn bringup: parameter file(s) {[str(f) for f in missing]} not found; set "
              f"{graph.CONFIG_ENV} to the config/ros folder", file=sys.stderr)
        return 2
    commands = {n.name: graph.node_command(n, values, managed=True) for n in nodes}
    if args.dry_run:
        for name, cmd in commands.items():
            print(f"{name}: {shlex.join(cmd)}")
        return 0
    sup = Supervisor(commands, env=child_env(), grace_int=args.grace,
                     grace_term=min(4.0, args.grace), on_failure=values["on_failure"],
                     manage={n.name: graph.full_name(n, values) for n in nodes})
    return sup.run()
