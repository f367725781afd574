"""The one graph description (mn_ros/graph.py) against what it names: launch files, setup.py
console scripts, config/ros/*.yaml and the parameters the nodes really declare."""
from __future__ import annotations

import ast
import importlib
import py_compile
import runpy
import sys
import types
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


class _Recorder:
    """Stands in for a launch / launch_ros class: keeps its arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def _fake_launch(monkeypatch):
    mods = {}
    for name, classes in {
        "launch": ["LaunchDescription"], "launch.actions": ["DeclareLaunchArgument"],
        "launch.conditions": ["IfCondition"], "launch.substitutions": ["LaunchConfiguration"],
        "launch_ros": [], "launch_ros.actions": ["Node"],
        "launch_ros.parameter_descriptions": ["ParameterValue"],
    }.items():
        m = types.ModuleType(name)
        for c in classes:
            setattr(m, c, type(c, (_Recorder,), {}))
        mods[name] = m
        monkeypatch.setitem(sys.modules, name, m)
    return mods


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_starts_the_profile_bringup_starts(monkeypatch, path):
    _fake_launch(monkeypatch)
    ld = runpy.run_path(str(path))["generate_launch_description"]()
    actions = ld.args[0]
    profile = graph.get_profile(path.name.split(".")[0])
    declared_args = [a for a in actions if type(a).__name__ == "DeclareLaunchArgument"]
    nodes = [a for a in actions if type(a).__name__ == "Node"]
    assert {a.args[0] for a in declared_args} == {a.name for a in graph.args_for(profile)}
    assert all(a.kwargs["description"] for a in declared_args)
    assert [n.kwargs["name"] for n in nodes] == [n.name for n in profile.nodes]
    scripts = console_scripts()
    values = graph.resolve(profile, {})
    for action, spec in zip(nodes, profile.nodes):
        kw = action.kwargs
        assert kw["package"] == "mn_ros" and kw["executable"] in scripts
        files = [p for p in kw["parameters"] if isinstance(p, str)]
        assert files == [str(ROOT / "config" / "ros" / f) for f in spec.params]
        launch_params = {k for p in kw["parameters"] if isinstance(p, dict) for k in p}
        # bringup runs the same module with the same files and the same arguments
        cmd = graph.node_command(spec, values)
        assert cmd[2] == scripts[kw["executable"]].split(":")[0]
        assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "--params-file"] == files
        assert {cmd[i + 1].split(":=")[0] for i, a in enumerate(cmd) if a == "-p"} == \
            launch_params
        assert ("condition" in kw) == bool(spec.condition)


def test_bringup_arguments_are_checked():
    profile = graph.get_profile("sim")
    with pytest.raises(KeyError, match="has no argument"):
        graph.resolve(profile, {"threshold": "0.3"})
    with pytest.raises(ValueError, match="choose one of"):
        graph.resolve(profile, {"backend": "gazebo"})
    with pytest.raises(ValueError, match="not a valid int"):
        graph.resolve(profile, {"variation": "first"})
    values = graph.resolve(profile, {"checkpoint": "runs/my mn", "namespace": "/robot1"})
    cmd = graph.node_command(graph.POLICY, values)
    assert "__ns:=/robot1" in cmd and "checkpoint:='runs/my mn'" in cmd
    assert not graph.enabled(graph.RECORDER, values)
    assert graph.enabled(graph.RECORDER, graph.resolve(profile, {"record": "true"}))


@pytest.mark.parametrize("param, says", [
    ("task:=open_sesame", "parameter 'task' is 'open_sesame'; choose one of"),
    ("cameras:=[front, ceiling]", "parameter 'cameras' is ['front', 'ceiling']; choose from"),
    ("video_camera:=ceiling", "parameter 'video_camera' is 'ceiling'; choose one of"),
    ("workspace_bounds:=[0.0, 0.0, 0.0, -1.0, 1.0, 1.0]", "parameter 'workspace_bounds' is"),
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
