"""`mn play <source>`: publish a demonstration on a ROS 2 image topic at its frame rate.

    mn play data/open_drawer/all_variations/episodes/episode0          # an episode folder
    mn play demo.mp4 --rate 20 --ns mn --topic video                   # an mp4
    mn play bags/episode0_20250101_120000                              # a ROS 2 bag (rosbags)

Runs the player node (mn_ros/player_node.py) in this process with parameters from
config/ros/player.yaml and the options below; it waits for a subscriber, plays, and exits.
"""
from __future__ import annotations

import argparse

from mn_ros import topics as T

HELP = "publish a demonstration (mp4, episode folder or ROS 2 bag) on an image topic"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="an mp4, an episode folder or a ROS 2 bag folder")
    parser.add_argument("--ns", default=T.DEFAULT_NAMESPACE,
                        help=f"ROS namespace (default {T.DEFAULT_NAMESPACE})")
    parser.add_argument("--topic", default=None, help="image topic (default: player.yaml's, "
                        "'video')")
    parser.add_argument("--rate", type=float, default=None, metavar="HZ",
                        help="frame rate (default: the source's own timing)")
    parser.add_argument("--camera", default=None, help="camera of an episode folder (default: observer, else front)")
    parser.add_argument("--bag-topic", default=None, help="image topic inside a bag")
    parser.add_argument("--loop", action="store_true", help="play until Ctrl-C")
    parser.add_argument("--wait", type=int, default=None, metavar="N",
                        help="subscribers to wait for before playing (default 1)")


def ros_arguments(args: argparse.Namespace) -> list[str]:
    from mn_ros import graph
    from mn_ros.graph import PLAYER, _yaml_scalar
    out = ["mn-play", "--ros-args", "-r", f"__node:={PLAYER.name}",
           "-r", f"__ns:=/{args.ns.strip('/')}"]
    for f in graph.param_files(PLAYER):
        if f.is_file():
            out += ["--params-file", str(f)]
    params = {"source": args.source, "topic": args.topic, "rate_hz": args.rate,
              "camera": args.camera, "bag_topic": args.bag_topic,
              "loop": True if args.loop else None, "wait_for_subscribers": args.wait}
    for k, v in params.items():
        if v is not None:
            out += ["-p", f"{k}:={_yaml_scalar(v) if isinstance(v, str) else str(v).lower()}"]
    return out


def run(args: argparse.Namespace) -> int:
    from mn_ros.bringup import child_env
    import os
    os.environ.update({k: v for k, v in child_env().items() if k not in os.environ})
    from mn_ros.node_common import run_node
    from mn_ros.player_node import PlayerNode
    return run_node(PlayerNode, ros_arguments(args))
