"""A mixer tap with two lever handles on hinges (turn_tap). The body frame sits on the table top."""
from __future__ import annotations

import mujoco
import numpy as np

from mn_sim.props.materials import stiff

CHROME = (0.5, 0.52, 0.56, 1.0)
TAP_HANDLE_Y = 0.14      # handles' distance from the spout, along the tap's y axis
TAP_HANDLE_Z = 0.12      # height of a handle's lever above the table
TAP_LEVER = (0.05, 0.01, 0.01)   # half sizes of a lever (long along the tap's x when closed)
TAP_SIDES = ("left", "right")


def add_tap(scene, name: str = "tap"):
    """A mixer tap facing -x of its body frame: a spout between two lever handles.

    Each lever turns on a vertical hinge (`{name}_{left|right}_joint`, 0 = closed, positive =
    the way that opens it: counter-clockwise seen from above for the left tap, clockwise for
    the right one). Left is +y (the robot's left when the tap faces it). Sites
    `{name}_{side}_handle` mark the lever's centre on the hinge axis. Returns the body."""
    S = scene
    tap = S.body(name)
    S.box(tap, (0.045, 0.19, 0.015), CHROME, pos=(0, 0, 0.015), name=f"{name}_base")
    # the spout: a column and an arm reaching towards the robot, lower than the levers so the
    # hand turning a lever passes over it
    S.cylinder(tap, 0.016, 0.05, CHROME, pos=(0, 0, 0.08), name=f"{name}_spout_column")
    arm_q = (np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0)   # cylinder axis along x
    S.cylinder(tap, 0.012, 0.045, CHROME, pos=(-0.04, 0, 0.12), quat_wxyz=arm_q,
               name=f"{name}_spout_arm")
    S.cylinder(tap, 0.013, 0.008, CHROME, pos=(-0.08, 0, 0.112), name=f"{name}_spout_mouth")
    mark = {"left": (0.85, 0.1, 0.1, 1.0), "right": (0.1, 0.2, 0.85, 1.0)}
    for side, sy in (("left", 1.0), ("right", -1.0)):
        y = sy * TAP_HANDLE_Y
        post_top = TAP_HANDLE_Z - TAP_LEVER[2] - 0.002
        S.cylinder(tap, 0.018, (post_top - 0.03) / 2, CHROME, pos=(0, y, (post_top + 0.03) / 2),
                   name=f"{name}_{side}_post")
        h = S.body(f"{name}_{side}_handle", pos=(0, y, TAP_HANDLE_Z), parent=tap)
        h.add_joint(name=f"{name}_{side}_joint", type=mujoco.mjtJoint.mjJNT_HINGE,
                    axis=[0, 0, sy], range=[-0.05, 2.0], damping=0.3, armature=0.01,
                    frictionloss=0.08)
        stiff(S.box(h, TAP_LEVER, CHROME, name=f"{name}_{side}_lever", mass=0.05,
                    friction=(1.2, 0.01, 0.001)))
        S.cylinder(h, 0.008, 0.002, mark[side], pos=(0, 0, TAP_LEVER[2] + 0.002), mass=0.002,
                   name=f"{name}_{side}_mark")
        S.site(h, f"{name}_{side}_handle")
    return tap
