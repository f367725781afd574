"""A jar with a neck and a screw-cap lid that slides over it (close_jar). Frames on the table top."""
from __future__ import annotations

import mujoco
import numpy as np

from mn_sim.geometry import yaw_quat_wxyz
from mn_sim.props.materials import stiff

LID_RGBA = (0.3, 0.3, 0.33, 1.0)

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
        q = yaw_quat_wxyz(a)
        # a smooth rim: the lid slides on the table rather than tip over when nudged
        g = stiff(S.box(lid, (SKIRT_T / 2, seg / 2, SKIRT_LEN / 2), LID_RGBA,
                        pos=(ring_r * np.cos(a), ring_r * np.sin(a),
                             -LID_TOP_H / 2 - SKIRT_LEN / 2),
                        quat_wxyz=q, mass=0.002, friction=(0.3, 0.005, 0.0001)))
        g.condim = 3
    return lid


LID_REST_Z = LID_TOP_H / 2 + SKIRT_LEN    # lid origin above the table when it lies there
