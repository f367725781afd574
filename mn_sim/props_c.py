"""Props for turn_tap, close_jar and stack_blocks (built with MjSpec from simple shapes).

Every prop's body frame sits on the table top (z = 0 is the surface it stands on)."""
from __future__ import annotations

import mujoco
import numpy as np

CHROME = (0.5, 0.52, 0.56, 1.0)
LID_RGBA = (0.3, 0.3, 0.33, 1.0)

# MuJoCo's default contact (solref 0.02 s, solimp up to 0.95) lets the Panda's fingers,
# squeezing with 80 N, sink centimetres into what they hold. Things the gripper takes get a
# stiff contact that wins over the fingers' (higher priority): < 1 mm while held, ~2.5 mm at the
# moment the fingers hit, and torsional friction (condim 4) so a held object does not pivot
# about the fingers' axis.
STIFF_SOLREF = (0.005, 1.0)
STIFF_SOLIMP = (0.95, 0.99, 0.001, 0.5, 2.0)


def stiff(geom, priority: int = 1):
    """Give a geom the stiff contact above (returns it)."""
    geom.solref = list(STIFF_SOLREF)
    geom.solimp = list(STIFF_SOLIMP)
    geom.priority = priority
    geom.condim = 4
    return geom


# ---------------------------------------------------------------------------------- tap
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


# ---------------------------------------------------------------------------------- jar
JAR_RADIUS, JAR_BODY_H = 0.035, 0.08
NECK_RADIUS, NECK_H = 0.018, 0.02
# the cap is taller than the finger pads (1.7 cm) so the fingers meet only its flat sides: a
# finger closing fast sinks ~2.5 mm, and its body, just behind the pads, must not catch the
# cap's top edge (that contact tips the lid over)
LID_RADIUS, LID_TOP_H = 0.029, 0.024       # apothem and height of the lid's octagonal cap
SKIRT_LEN, SKIRT_T, SKIRT_N = 0.01, 0.004, 16   # the ring hanging under the cap
JAR_TOP = JAR_BODY_H + NECK_H                # height of the neck's rim
LID_SEATED_Z = JAR_TOP + LID_TOP_H / 2       # lid origin above the jar's origin when closed


def add_jar(scene, name: str):
    """A jar (free body, origin at its base): a wide body with a narrow neck on top.

    Geoms `{name}_body`, `{name}_neck` (recolour both); site `{name}_lid_seat` is where the lid's
    origin lies when the lid sits on the neck. Returns the body."""
    S = scene
    jar = S.body(name, free=True)
    glass = (0.6, 0.6, 0.6, 1.0)
    stiff(S.cylinder(jar, JAR_RADIUS, JAR_BODY_H / 2, glass, pos=(0, 0, JAR_BODY_H / 2),
                     name=f"{name}_body", mass=0.35, friction=(1.0, 0.01, 0.001)))
    stiff(S.cylinder(jar, NECK_RADIUS, NECK_H / 2, glass, pos=(0, 0, JAR_BODY_H + NECK_H / 2),
                     name=f"{name}_neck", mass=0.03, friction=(0.8, 0.01, 0.001)))
    S.site(jar, f"{name}_lid_seat", pos=(0, 0, LID_SEATED_Z))
    return jar


def add_jar_lid(scene, name: str = "jar_lid"):
    """A screw-cap lid (free body, origin at the centre of its cap): an octagonal cap with a
    ring (skirt) under it that slides over a jar's neck, so a closed lid is held in place.

    The cap's flat faces (normals at k * 45 deg in the body frame) give the fingers a flat grip
    (the Panda's pads pinch a round rim sideways and stick). It is `2 * LID_RADIUS` across the
    flats, narrower than the open gripper. Returns the body."""
    S = scene
    lid = S.body(name, free=True)
    # the cap: one convex octagonal prism (a single convex geom keeps contacts clean when the
    # fingers close on it; overlapping boxes trap a finger pad between their inner faces)
    corner = LID_RADIUS / np.cos(np.pi / 8)
    angles = np.pi / 8 + np.arange(8) * np.pi / 4
    verts = [(corner * np.cos(t), corner * np.sin(t), z)
             for z in (-LID_TOP_H / 2, LID_TOP_H / 2) for t in angles]
    S.spec.add_mesh(name=f"{name}_cap_mesh", uservert=list(np.ravel(verts)))
    cap = lid.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"{name}_cap_mesh",
                       rgba=list(LID_RGBA), name=f"{name}_cap")
    cap.mass = 0.04
    cap.friction = [1.2, 0.01, 0.001]
    stiff(cap)
    ring_r = LID_RADIUS - SKIRT_T / 2 - 0.002   # inside the flats: the fingers touch the cap only
    seg = 2 * ring_r * np.tan(np.pi / SKIRT_N) + 0.001   # segments overlap slightly
    for k in range(SKIRT_N):
        a = 2 * np.pi * k / SKIRT_N
        q = (np.cos(a / 2), 0.0, 0.0, np.sin(a / 2))
        # a smooth rim: the lid slides on the table rather than tip over when nudged
        g = stiff(S.box(lid, (SKIRT_T / 2, seg / 2, SKIRT_LEN / 2), LID_RGBA,
                        pos=(ring_r * np.cos(a), ring_r * np.sin(a),
                             -LID_TOP_H / 2 - SKIRT_LEN / 2),
                        quat_wxyz=q, mass=0.002, friction=(0.3, 0.005, 0.0001)))
        g.condim = 3
    return lid


LID_REST_Z = LID_TOP_H / 2 + SKIRT_LEN    # lid origin above the table when it lies there


# ---------------------------------------------------------------------------------- blocks
BLOCK_HALF = 0.025


def add_block(scene, name: str, rgba=(0.5, 0.5, 0.5, 1.0)):
    """A 5 cm cube (free body, origin at its centre) with geom `{name}`."""
    b = scene.body(name, free=True)
    stiff(scene.box(b, (BLOCK_HALF,) * 3, rgba, name=name, mass=0.08,
                    friction=(1.0, 0.01, 0.001)))
    return b
