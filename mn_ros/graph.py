"""The one description of the mn ROS graph: profiles, their nodes, parameter files, arguments.

Both ways of starting a profile read it, so they start the same executables with the same
parameter files and arguments:

    ros2 launch mn_ros sim.launch.py checkpoint:=runs/mn        (a ROS 2 install; launch/*.py)
    mn bringup sim checkpoint:=runs/mn                          (here: one process per node)

ROS-free (``launch_description`` imports launch / launch_ros only when called).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "mn_ros"
CONFIG_ENV = "MN_ROS_CONFIG_DIR"   # overrides where config/ros/*.yaml are looked up


@dataclass(frozen=True)
class NodeSpec:
    name: str            # ROS node name (under the namespace)
    executable: str      # console script in setup.py (ros2 launch runs lib/mn_ros/<executable>)
    module: str          # python -m <module> (what bringup runs)
    params: tuple        # parameter files in config/ros/
    condition: str = ""  # launch argument that must be true to start it ("" = always)


@dataclass(frozen=True)
class Arg:
    name: str
    default: str
    description: str
    nodes: tuple = ()    # nodes that receive it as a parameter of the same name; () = none
    choices: tuple = ()
    type: type = str     # parameter type ("0" -> 0 for int)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    nodes: tuple


SIM = NodeSpec("sim", "sim_node", "mn_ros.sim_node", ("sim.yaml",))
POLICY = NodeSpec("policy", "policy_node", "mn_ros.policy_node", ("policy.yaml",))
OBSERVER = NodeSpec("observer", "observer_node", "mn_ros.observer_node", ("observer.yaml",))
MIRROR = NodeSpec("mirror", "mirror_node", "mn_ros.mirror_node", ("mirror.yaml",))
RECORDER = NodeSpec("recorder", "recorder_node", "mn_ros.recorder_node", ("recorder.yaml",),
                    condition="record")
PLAYER = NodeSpec("player", "player_node", "mn_ros.player_node", ("player.yaml",))
ALL_NODES = (SIM, POLICY, OBSERVER, MIRROR, RECORDER, PLAYER)

PROFILES = {p.name: p for p in (
    Profile("sim", "the simulated Panda driven by the policy (instructions on /<ns>/instruction)",
            (SIM, POLICY, RECORDER)),
    Profile("observe", "watch a demonstration (e.g. `mn play`) on /<ns>/video: recognize it and "
            "compare with the policy's embedding", (OBSERVER, MIRROR, RECORDER)),
    Profile("mirror", "everything: the policy acts in the sim while the observer watches the "
            "sim's video and the mirror node compares z_u with z_e",
            (SIM, POLICY, OBSERVER, MIRROR, RECORDER)),
)}

ARGS = (
    Arg("namespace", "mn", "ROS namespace of every node and topic"),
    Arg("checkpoint", "", "checkpoint or run folder (mn train --out): ee/mn for the policy, "
        "au/mn for the observer", nodes=("policy", "observer")),
    Arg("backend", "mujoco", "simulator backend", nodes=("sim",), choices=("mujoco", "rlbench")),
    Arg("task", "open_drawer", "task of the first episode (see `mn tasks`)", nodes=("sim",)),
    Arg("variation", "0", "task variation", nodes=("sim",), type=int),
    Arg("threshold", "0.5", "cosine(z_u, z_e) at or above which execution matches the "
        "observation", nodes=("mirror",), type=float),
    Arg("record", "false", "also record the episode to a ROS 2 bag (mcap)",
        choices=("true", "false")),
    Arg("bag", "bags", "folder the recorder writes its bags into", nodes=("recorder",)),
)


def args_for(profile: Profile) -> tuple[Arg, ...]:
    """The arguments that matter for a profile (namespace, conditions, its nodes' params)."""
    names = {n.name for n in profile.nodes}
    conds = {n.condition for n in profile.nodes if n.condition}
    return tuple(a for a in ARGS if a.name == "namespace" or a.name in conds
                 or names.intersection(a.nodes))


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise KeyError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name]


def config_dir() -> Path:
    """config/ros of the source tree, else of the installed package share directory."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    here = Path(__file__).resolve().parents[1] / "config" / "ros"
    if here.is_dir():
        return here
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory(PACKAGE)) / "config" / "ros"
    except (ImportError, LookupError):
        return Path(sys.prefix) / "share" / PACKAGE / "config" / "ros"


def param_files(node: NodeSpec, where: Path | None = None) -> list[Path]:
    where = config_dir() if where is None else where
    return [where / f for f in node.params]


def parse_value(arg: Arg, text: str):
    """A launch-argument string as its parameter value; checks the choices."""
    if arg.choices and text not in arg.choices:
        raise ValueError(f"{arg.name}:={text!r}: choose one of {list(arg.choices)}")
    try:
        return arg.type(text)
    except ValueError:
        raise ValueError(f"{arg.name}:={text!r} is not a valid {arg.type.__name__}") from None


def resolve(profile: Profile, overrides: dict[str, str]) -> dict[str, str]:
    """Argument values: defaults updated by ``overrides`` (unknown names are errors)."""
    args = {a.name: a for a in args_for(profile)}
    bad = sorted(set(overrides) - set(args))
    if bad:
        raise KeyError(f"profile {profile.name!r} has no argument(s) {bad}; its arguments are "
                       f"{sorted(args)}")
    values = {n: a.default for n, a in args.items()}
    values.update(overrides)
    for n, v in values.items():
        parse_value(args[n], v)
    return values


def enabled(node: NodeSpec, values: dict[str, str]) -> bool:
    return not node.condition or values.get(node.condition, "false").lower() == "true"


def node_command(node: NodeSpec, values: dict[str, str], python: str = sys.executable,
                 where: Path | None = None) -> list[str]:
    """The command `mn bringup` runs for a node: python -m <module> --ros-args ..."""
    cmd = [python, "-m", node.module, "--ros-args", "-r", f"__node:={node.name}",
           "-r", f"__ns:=/{values['namespace'].strip('/')}"]
    for f in param_files(node, where):
        cmd += ["--params-file", str(f)]
    for a in ARGS:
        if node.name in a.nodes and a.name in values:
            cmd += ["-p", f"{a.name}:={_yaml_scalar(parse_value(a, values[a.name]))}"]
    return cmd


def _yaml_scalar(v) -> str:
    if isinstance(v, str):   # quote so a path like 123 or 'true' stays a string
        return "'" + v.replace("'", "''") + "'"
    return repr(v)


def launch_description(profile_name: str):
    """A launch.LaunchDescription for `ros2 launch` (needs launch and launch_ros)."""
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument
    from launch.conditions import IfCondition
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node
    from launch_ros.parameter_descriptions import ParameterValue

    profile = get_profile(profile_name)
    actions = []
    for a in args_for(profile):
        kw = {"choices": list(a.choices)} if a.choices else {}
        actions.append(DeclareLaunchArgument(a.name, default_value=a.default,
                                             description=a.description, **kw))
    for node in profile.nodes:
        params = [str(f) for f in param_files(node)]
        params += [{a.name: ParameterValue(LaunchConfiguration(a.name), value_type=a.type)}
                   for a in ARGS if node.name in a.nodes]
        kw = {"condition": IfCondition(LaunchConfiguration(node.condition))} \
            if node.condition else {}
        actions.append(Node(package=PACKAGE, executable=node.executable, name=node.name,
                            namespace=LaunchConfiguration("namespace"), parameters=params,
                            output="screen", **kw))
    return LaunchDescription(actions)
