"""Stand-ins for the launch / launch_ros / lifecycle_msgs classes the launch files use, so a
launch description can be built and inspected where launch and launch_ros are not installed
(they are not on PyPI). Each class keeps its constructor arguments."""
from __future__ import annotations

import sys
import types

MODULES = {
    "launch": ["LaunchDescription"],
    "launch.actions": ["DeclareLaunchArgument", "OpaqueFunction", "EmitEvent", "LogInfo",
                       "RegisterEventHandler"],
    "launch.event_handlers": ["OnProcessExit"],
    "launch.events": ["Shutdown"],
    "launch_ros": [], "launch_ros.actions": ["LifecycleNode", "Node"],
    "launch_ros.event_handlers": ["OnStateTransition"],
    "launch_ros.events": [], "launch_ros.events.lifecycle": ["ChangeState"],
    "launch_ros.parameter_descriptions": ["ParameterValue"],
}


class Recorded:
    """Stands in for a launch / launch_ros class: keeps its arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def install(setitem=None) -> dict:
    """Put the stand-ins into sys.modules (``setitem``: e.g. monkeypatch.setitem)."""
    setitem = setitem or (lambda d, k, v: d.__setitem__(k, v))
    mods = {}
    for name, classes in MODULES.items():
        m = types.ModuleType(name)
        for c in classes:
            setattr(m, c, type(c, (Recorded,), {}))
        mods[name] = m
        setitem(sys.modules, name, m)
    mods["launch.events"].matches_action = lambda action: ("matches", action)
    if "lifecycle_msgs" not in sys.modules:   # the real one exists here; keep it if loaded
        import lifecycle_msgs.msg  # noqa: F401
    return mods


class Context:
    """What OpaqueFunction's function gets: the launch arguments' values."""

    def __init__(self, configurations: dict[str, str]):
        self.launch_configurations = configurations


def expand(description, arguments: dict[str, str] | None = None) -> tuple[list, list]:
    """(declared arguments, actions made by the OpaqueFunction) of a launch description, with
    the declared defaults updated by ``arguments`` (as `ros2 launch ... name:=value`)."""
    actions = description.args[0]
    declared = [a for a in actions if type(a).__name__ == "DeclareLaunchArgument"]
    values = {a.args[0]: a.kwargs["default_value"] for a in declared}
    values.update(arguments or {})
    made = []
    for a in actions:
        if type(a).__name__ == "OpaqueFunction":
            made += a.kwargs["function"](Context(values), *a.kwargs.get("args", []))
    return declared, made


def nodes(actions: list) -> list:
    return [a for a in actions if type(a).__name__ == "LifecycleNode"]
