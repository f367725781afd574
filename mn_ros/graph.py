"""The one description of the mn ROS graph: profiles, their nodes, parameter files, arguments.

Both ways of starting a profile read it, so they start the same executables with the same
parameter files and arguments, select the same nodes and react the same way to a node that
fails to configure:

    ros2 launch mn_ros sim.launch.py checkpoint:=runs/mn        (a ROS 2 install; launch/*.py)
    mn bringup sim checkpoint:=runs/mn                          (here: one process per node)

Which nodes start (``select``): a profile's nodes, where those that need a model (policy,
observer, mirror) join only when ``checkpoint:=`` is given -- ``mn bringup sim`` is the
simulator alone, ``mn bringup sim checkpoint:=runs/mn`` adds the policy -- and the recorder
joins with ``record:=true``; ``nodes:=sim`` / ``nodes:=policy,observer`` (``mn bringup
--nodes``) names them instead, e.g. for one part of a graph split over two hosts.

Every node is a lifecycle node started with ``autostart:=false``; the starter configures and
activates it over the standard lifecycle services (launch: launch_ros event handlers). A node
that fails to configure (a missing or corrupt checkpoint, ...) is reported with its reason;
``on_failure:=shutdown`` (default) then stops the whole graph, ``on_failure:=continue`` leaves
the others running (the failed node stays unconfigured and can be configured again).

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
    needs: str = ""      # launch argument that must be non-empty to start it (checkpoint)


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
POLICY = NodeSpec("policy", "policy_node", "mn_ros.policy_node", ("policy.yaml",),
                  needs="checkpoint")
OBSERVER = NodeSpec("observer", "observer_node", "mn_ros.observer_node", ("observer.yaml",),
                    needs="checkpoint")
MIRROR = NodeSpec("mirror", "mirror_node", "mn_ros.mirror_node", ("mirror.yaml",),
                  needs="checkpoint")
RECORDER = NodeSpec("recorder", "recorder_node", "mn_ros.recorder_node", ("recorder.yaml",),
                    condition="record")
PLAYER = NodeSpec("player", "player_node", "mn_ros.player_node", ("player.yaml",))
ALL_NODES = (SIM, POLICY, OBSERVER, MIRROR, RECORDER, PLAYER)

PROFILES = {p.name: p for p in (
    Profile("sim", "the simulated Panda alone (drive it on /<ns>/target_pose); with "
            "checkpoint:= the policy joins and acts on /<ns>/instruction",
            (SIM, POLICY, RECORDER)),
    Profile("observe", "watch a demonstration (e.g. `mn play`) on /<ns>/video: recognize it and "
            "compare with the policy's embedding (needs checkpoint:=)",
            (OBSERVER, MIRROR, RECORDER)),
    Profile("mirror", "everything: the policy acts in the sim while the observer watches the "
            "sim's video and the mirror node compares z_u with z_e (without checkpoint:= the "
            "sim alone)", (SIM, POLICY, OBSERVER, MIRROR, RECORDER)),
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
    Arg("nodes", "", "comma-separated nodes of the profile to start instead of its default "
        "selection, e.g. sim or policy,observer (one part of a graph split over hosts)"),
    Arg("on_failure", "shutdown", "when a node fails to configure (or dies): shutdown stops "
        "the whole graph, continue reports it and keeps the others running",
        choices=("shutdown", "continue")),
)
ALWAYS = ("namespace", "nodes", "on_failure")   # arguments of every profile


def args_for(profile: Profile) -> tuple[Arg, ...]:
    """The arguments that matter for a profile (namespace, conditions, its nodes' params)."""
    names = {n.name for n in profile.nodes}
    conds = {n.condition for n in profile.nodes if n.condition}
    return tuple(a for a in ARGS if a.name in ALWAYS or a.name in conds
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
    """Whether a node of a profile joins by default: its condition is true and what it needs
    is given."""
    return (not node.condition or values.get(node.condition, "false").lower() == "true") and \
        (not node.needs or bool(values.get(node.needs, "").strip()))


def select(profile: Profile, values: dict[str, str]) -> list[NodeSpec]:
    """The nodes to start: ``nodes:=a,b`` if given (each must be in the profile and have what it
    needs), else the profile's enabled ones. Raises ValueError naming the problem."""
    names = [n.strip() for n in values.get("nodes", "").split(",") if n.strip()]
    if names:
        known = {n.name: n for n in profile.nodes}
        bad = [n for n in names if n not in known]
        if bad:
            raise ValueError(f"nodes:={values['nodes']!r}: {bad} not in profile {profile.name!r}; "
                             f"choose from {list(known)}")
        chosen = [known[n] for n in known if n in names]   # the profile's order
        for n in chosen:
            if n.needs and not values.get(n.needs, "").strip():
                raise ValueError(f"node {n.name!r} needs {n.needs}:=<folder> (a checkpoint or "
                                 f"run folder from mn train)")
        return chosen
    chosen = [n for n in profile.nodes if enabled(n, values)]
    if not [n for n in chosen if n is not RECORDER]:
        raise ValueError(f"profile {profile.name!r} starts nothing without checkpoint:=<folder> "
                         f"(its nodes {[n.name for n in profile.nodes if n.needs]} need a model)")
    return chosen


def node_command(node: NodeSpec, values: dict[str, str], python: str = sys.executable,
                 where: Path | None = None, managed: bool = False) -> list[str]:
    """The command `mn bringup` runs for a node: python -m <module> --ros-args ...; with
    ``managed`` the node waits to be configured and activated (autostart false)."""
    cmd = [python, "-m", node.module, "--ros-args", "-r", f"__node:={node.name}",
           "-r", f"__ns:=/{values['namespace'].strip('/')}"]
    for f in param_files(node, where):
        cmd += ["--params-file", str(f)]
    for a in ARGS:
        if node.name in a.nodes and a.name in values:
            cmd += ["-p", f"{a.name}:={_yaml_scalar(parse_value(a, values[a.name]))}"]
    if managed:
        cmd += ["-p", "autostart:=false"]
    return cmd


def full_name(node: NodeSpec, values: dict[str, str]) -> str:
    """The node's fully qualified name, e.g. /mn/sim."""
    ns = values.get("namespace", "mn").strip("/")
    return f"/{ns}/{node.name}" if ns else f"/{node.name}"


def _yaml_scalar(v) -> str:
    if isinstance(v, str):   # quote so a path like 123 or 'true' stays a string
        return "'" + v.replace("'", "''") + "'"
    return repr(v)


def launch_description(profile_name: str):
    """A launch.LaunchDescription for `ros2 launch` (needs launch and launch_ros): the profile's
    arguments, then one OpaqueFunction that checks them (a bad value fails naming the
    argument, as `mn bringup` does), selects the nodes with ``select`` and starts each as a
    launch_ros LifecycleNode with event handlers that configure and activate it and apply
    ``on_failure``."""
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    profile = get_profile(profile_name)
    actions = []
    for a in args_for(profile):
        kw = {"choices": list(a.choices)} if a.choices else {}
        actions.append(DeclareLaunchArgument(a.name, default_value=a.default,
                                             description=a.description, **kw))
    actions.append(OpaqueFunction(function=launch_setup, args=[profile_name]))
    return LaunchDescription(actions)


def launch_setup(context, profile_name: str) -> list:
    """The node actions of a profile for the launch arguments in ``context``."""
    from launch.actions import EmitEvent, LogInfo, RegisterEventHandler
    from launch.event_handlers import OnProcessExit
    from launch.events import Shutdown, matches_action
    from launch_ros.actions import LifecycleNode
    from launch_ros.event_handlers import OnStateTransition
    from launch_ros.events.lifecycle import ChangeState
    from launch_ros.parameter_descriptions import ParameterValue
    from lifecycle_msgs.msg import Transition

    profile = get_profile(profile_name)
    given = {a.name: context.launch_configurations[a.name] for a in args_for(profile)
             if a.name in context.launch_configurations}
    try:
        values = resolve(profile, given)
        nodes = select(profile, values)
    except (KeyError, ValueError) as e:
        raise RuntimeError(f"mn_ros {profile_name}.launch.py: "
                           f"{e.args[0] if isinstance(e, KeyError) else e}") from None
    stop = values["on_failure"] == "shutdown"
    ns = values["namespace"].strip("/")
    actions = []
    for node in nodes:
        typed = {}
        for a in ARGS:
            if node.name in a.nodes:
                v = parse_value(a, values[a.name])
                typed[a.name] = ParameterValue(v, value_type=str) if isinstance(v, str) else v
        typed["autostart"] = False   # configured and activated by the handlers below
        action = LifecycleNode(package=PACKAGE, executable=node.executable, name=node.name,
                               namespace=ns, parameters=[*map(str, param_files(node)), typed],
                               output="screen")

        def change(transition_id, action=action):
            return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(action),
                                               transition_id=transition_id))

        failed = [LogInfo(msg=f"[mn] {node.name} failed to configure (its log says why); "
                              + ("stopping the graph (on_failure:=shutdown)" if stop else
                                 "the others keep running (on_failure:=continue)"))]
        if stop:
            failed.append(EmitEvent(event=Shutdown(reason=f"{node.name} failed to configure")))
        actions += [
            action,
            RegisterEventHandler(OnStateTransition(
                target_lifecycle_node=action, start_state="configuring", goal_state="inactive",
                entities=[change(Transition.TRANSITION_ACTIVATE)])),
            RegisterEventHandler(OnStateTransition(
                target_lifecycle_node=action, start_state="configuring",
                goal_state="unconfigured", entities=failed)),
            change(Transition.TRANSITION_CONFIGURE),
        ]
        if stop:
            actions.append(RegisterEventHandler(OnProcessExit(
                target_action=action, on_exit=[EmitEvent(event=Shutdown(
                    reason=f"{node.name} exited (on_failure:=shutdown)"))])))
    return actions
