"""The one graph description (mn_ros/graph.py) against what it names: launch files, setup.py
console scripts, config/ros/*.yaml and the parameters the nodes really declare."""
from __future__ import annotations

import ast
import importlib
import py_compile
import re
import runpy
from pathlib import Path

import pytest
import yaml

from mn_ros import graph

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
NODE_CLASSES = {"sim": "mn_ros.sim_node:SimNode", "policy": "mn_ros.policy_node:PolicyNode",
                "observer": "mn_ros.observer_node:ObserverNode",
                "mirror": "mn_ros.mirror_node:MirrorNode",
                "recorder": "mn_ros.recorder_node:RecorderNode",
                "player": "mn_ros.player_node:PlayerNode"}


def console_scripts() -> dict[str, str]:
    """name -> 'module:function' from setup.py's entry_points (parsed, not executed)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and k.value == "console_scripts":
                    items = [ast.literal_eval(e) for e in v.elts]
                    return dict((s.strip() for s in i.split("=", 1)) for i in items)
    raise AssertionError("setup.py has no console_scripts")


def test_launch_files_compile_and_exist_per_profile():
    assert {p.name for p in LAUNCH_FILES} == {f"{n}.launch.py" for n in graph.PROFILES}
    for path in LAUNCH_FILES:
        py_compile.compile(str(path), doraise=True)


def test_every_node_has_a_console_script_module_and_param_files():
    scripts = console_scripts()
    assert scripts["mn"] == "mn_ros.cli:main"
    for node in graph.ALL_NODES:
        assert scripts[node.executable] == f"{node.module}:main", node
        assert (ROOT / (node.module.replace(".", "/") + ".py")).is_file()
        for f in graph.param_files(node, ROOT / "config" / "ros"):
            data = yaml.safe_load(f.read_text())
            assert list(data) == ["/**"] and list(data["/**"]) == ["ros__parameters"], f
    assert graph.config_dir() == ROOT / "config" / "ros"


@pytest.fixture(scope="module")
def declared(tmp_path_factory):
    """name -> {parameter: description} of every node class, instantiated (not spun)."""
    import os

    import rclpy
    os.environ["ROS_LOG_DIR"] = str(tmp_path_factory.mktemp("roslog"))
    from ros_helpers import new_domain_id
    rclpy.init(domain_id=new_domain_id(),
               signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    out = {}
    try:
        for name, target in NODE_CLASSES.items():
            module, cls = target.split(":")
            node = getattr(importlib.import_module(module), cls)()
            assert node.get_name() == name
            out[name] = {p: node.describe_parameter(p).description
                         for p in node._parameters if p != "use_sim_time"}
            node.destroy_node()
    finally:
        rclpy.shutdown()
    return out


def test_yaml_keys_and_launch_arguments_are_declared_with_descriptions(declared):
    for node in graph.ALL_NODES:
        params = declared[node.name]
        assert all(params.values()), f"{node.name}: a parameter without description"
        for f in graph.param_files(node, ROOT / "config" / "ros"):
            keys = set(yaml.safe_load(f.read_text())["/**"]["ros__parameters"])
            assert keys <= set(params), f"{f.name}: undeclared {keys - set(params)}"
        args = {a.name for a in graph.ARGS if node.name in a.nodes}
        assert args <= set(params), f"{node.name}: undeclared launch arguments"
        yaml_keys = set().union(*(set(yaml.safe_load(f.read_text())["/**"]["ros__parameters"])
                                  for f in graph.param_files(node, ROOT / "config" / "ros")))
        assert not args & yaml_keys, "a launch argument is also in the YAML: two truths"


def _launch(monkeypatch, profile_name: str):
    import fake_launch
    fake_launch.install(monkeypatch.setitem)
    path = ROOT / "launch" / f"{profile_name}.launch.py"
    return fake_launch, runpy.run_path(str(path))["generate_launch_description"]()


CASES = [{}, {"checkpoint": "runs/mn"}, {"checkpoint": "runs/mn", "record": "true"},
         {"checkpoint": "runs/mn", "nodes": "mirror", "on_failure": "continue"},
         {"checkpoint": "runs/my mn", "namespace": "/robot1", "variation": "3"}]


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_starts_what_bringup_starts(monkeypatch, path):
    """Same nodes (selection included), executables, parameter files and parameters as `mn
    bringup`; each a LifecycleNode configured by an event and activated by a handler, and a
    failed configure shuts the launch down exactly when on_failure:=shutdown."""
    from lifecycle_msgs.msg import Transition
    profile = graph.get_profile(path.name.split(".")[0])
    fl, ld = _launch(monkeypatch, profile.name)
    scripts = console_scripts()
    names = {a.name for a in graph.args_for(profile)}
    for given in CASES:
        given = {k: v for k, v in given.items() if k in names}
        if "nodes" in given and given["nodes"] not in {n.name for n in profile.nodes}:
            continue
        values = graph.resolve(profile, given)
        try:
            expected = graph.select(profile, values)
        except ValueError as e:   # e.g. observe without a checkpoint: both refuse alike
            with pytest.raises(RuntimeError, match=re.escape(str(e))):
                fl.expand(ld, given)
            continue
        declared, made = fl.expand(ld, given)
        assert {a.args[0] for a in declared} == {a.name for a in graph.args_for(profile)}
        assert all(a.kwargs["description"] for a in declared)
        lnodes = fl.nodes(made)
        assert [n.kwargs["name"] for n in lnodes] == [n.name for n in expected], given
        for action, spec in zip(lnodes, expected):
            kw = action.kwargs
            assert kw["package"] == "mn_ros" and kw["executable"] in scripts
            assert kw["namespace"] == values["namespace"].strip("/")
            files = [p for p in kw["parameters"] if isinstance(p, str)]
            assert files == [str(ROOT / "config" / "ros" / f) for f in spec.params]
            params = {k: v for p in kw["parameters"] if isinstance(p, dict) for k, v in p.items()}
            assert params["autostart"] is False
            # bringup runs the same module with the same files and the same parameters
            cmd = graph.node_command(spec, values, managed=True)
            assert cmd[2] == scripts[kw["executable"]].split(":")[0]
            assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "--params-file"] == files
            cmd_params = dict(cmd[i + 1].split(":=", 1) for i, a in enumerate(cmd) if a == "-p")
            assert set(cmd_params) == set(params)
            for k, v in params.items():   # typed alike ("3" -> 3, a path stays a string)
                v = v.args[0] if type(v).__name__ == "ParameterValue" else v
                assert yaml.safe_load(cmd_params[k]) == v, (k, v, cmd_params[k])
            # the lifecycle: configure emitted at start, activate once inactive, a failed
            # configure logged (and the launch shut down with on_failure:=shutdown)
            mine = [a for a in made if type(a).__name__ == "RegisterEventHandler"
                    and a.args[0].kwargs.get("target_lifecycle_node") is action]
            by_goal = {h.args[0].kwargs["goal_state"]: h.args[0].kwargs for h in mine}
            assert by_goal["inactive"]["start_state"] == "configuring"
            [activate] = by_goal["inactive"]["entities"]
            assert activate.kwargs["event"].kwargs["transition_id"] == \
                Transition.TRANSITION_ACTIVATE
            assert by_goal["unconfigured"]["start_state"] == "configuring"
            kinds = [type(e).__name__ for e in by_goal["unconfigured"]["entities"]]
            assert ("EmitEvent" in kinds) == (values["on_failure"] == "shutdown"), kinds
            configure = [a for a in made if type(a).__name__ == "EmitEvent" and
                         a.kwargs["event"].kwargs.get("lifecycle_node_matcher") ==
                         ("matches", action)]
            assert [c.kwargs["event"].kwargs["transition_id"] for c in configure] == \
                [Transition.TRANSITION_CONFIGURE]


def test_launch_arguments_fail_naming_the_argument(monkeypatch):
    fl, ld = _launch(monkeypatch, "sim")
    with pytest.raises(RuntimeError, match=r"sim.launch.py: variation:='abc' is not a valid "
                                           r"int"):
        fl.expand(ld, {"variation": "abc"})
    with pytest.raises(RuntimeError, match=r"node 'policy' needs checkpoint:="):
        fl.expand(ld, {"nodes": "sim,policy"})
    with pytest.raises(RuntimeError, match=r"\['observer'\] not in profile 'sim'"):
        fl.expand(ld, {"nodes": "observer"})


def test_bringup_arguments_are_checked():
    profile = graph.get_profile("sim")
    with pytest.raises(KeyError, match="has no argument"):
        graph.resolve(profile, {"threshold": "0.3"})
    with pytest.raises(ValueError, match="choose one of"):
        graph.resolve(profile, {"backend": "gazebo"})
    with pytest.raises(ValueError, match="variation:='first' is not a valid int"):
        graph.resolve(profile, {"variation": "first"})
    values = graph.resolve(profile, {"checkpoint": "runs/my mn", "namespace": "/robot1"})
    cmd = graph.node_command(graph.POLICY, values)
    assert "__ns:=/robot1" in cmd and "checkpoint:='runs/my mn'" in cmd
    assert not graph.enabled(graph.RECORDER, values)
    assert graph.enabled(graph.RECORDER, graph.resolve(profile, {"record": "true"}))
    # the simulator alone without a checkpoint; the policy joins with one
    assert graph.select(profile, graph.resolve(profile, {})) == [graph.SIM]
    assert graph.select(profile, values) == [graph.SIM, graph.POLICY]
    mirror = graph.get_profile("mirror")
    assert graph.select(mirror, graph.resolve(mirror, {"nodes": "policy,sim",
                                                       "checkpoint": "x"})) == \
        [graph.SIM, graph.POLICY]
    with pytest.raises(ValueError, match="starts nothing without checkpoint"):
        graph.select(graph.get_profile("observe"), graph.resolve(graph.get_profile("observe"),
                                                                 {}))
    with pytest.raises(ValueError, match="choose one of"):
        graph.resolve(profile, {"on_failure": "ignore"})


@pytest.mark.parametrize("param, says", [
    ("task:=open_sesame", "parameter 'task' is 'open_sesame'; choose one of"),
    ("cameras:=[front, ceiling]", "parameter 'cameras' is ['front', 'ceiling']; choose from"),
    ("video_camera:=ceiling", "parameter 'video_camera' is 'ceiling'; choose one of"),
    ("workspace_bounds:=[0.0, 0.0, 0.0, -1.0, 1.0, 1.0]", "parameter 'workspace_bounds' is"),
    ("variation:=abc", "parameter 'variation' is 'abc'; it must be an integer (default 0)"),
])
def test_sim_node_refuses_bad_parameters_before_it_starts(param, says):
    _refused("mn_ros.sim_node", param, says)


def test_policy_node_refuses_unknown_cameras_before_it_starts():
    _refused("mn_ros.policy_node", "cameras:=[front, ceiling]",
             "parameter 'cameras' is ['front', 'ceiling']; choose from")


def _refused(module: str, param: str, says: str) -> None:
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", module, "--ros-args", "-p", param],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and "[mn] cannot start: " + says in p.stderr, p.stderr[-2000:]
