"""A table lamp with an upward-facing screw socket (light_bulb_in). Frame on the table top.

The socket's thread is a turning collar: a floor disc with four lugs inside the socket's cup,
on a vertical hinge and a vertical slide coupled by a joint equality constraint (slide =
LAMP_PITCH * hinge), so the collar moves down exactly as far as a screw thread would while it
turns clockwise (seen from above), and cannot move down without turning. Friction on the hinge
makes the thread self-locking (a weight on the collar does not spin it). A bulb (mn_sim.props.
bulbs) stands on the collar's floor with its two pins between the lugs: turning the bulb
clockwise pushes the lugs round, the collar screws down and the bulb, resting on it, goes down
with it into the socket.
"""
from __future__ import annotations

import mujoco
import numpy as np

from mn_sim.geometry import yaw_quat_wxyz

LAMP_RGBA = (0.18, 0.18, 0.2, 1.0)
SOCKET_RGBA = (0.55, 0.5, 0.42, 1.0)
COLLAR_RGBA = (0.8, 0.75, 0.55, 1.0)
SHADE_RGBA = (0.36, 0.31, 0.28, 1.0)

LAMP_BASE_R, LAMP_BASE_H = 0.065, 0.012
STEM_R, STEM_TOP = 0.01, 0.15
SOCKET_FLOOR_H = 0.008                 # the cup's floor, on top of the stem
SOCKET_IN_R, SOCKET_T = 0.021, 0.005   # the cup's bore and wall thickness
SOCKET_WALL_TOP = 0.19                 # height of the socket's rim above the table
SOCKET_SEGMENTS = 16
SHADE_R, SHADE_Z = 0.06, (0.152, 0.183)   # the shade's rim radius; its bottom and rim heights

LAMP_TURN = 2 * np.pi                  # the thread: one full turn seats a bulb
LAMP_TRAVEL = 0.016                    # ... moving the collar (and the bulb) this far down
LAMP_PITCH = LAMP_TRAVEL / LAMP_TURN   # metres down per radian turned
LAMP_OVERTURN = 0.3                    # the thread ends this far (rad) past a full turn
COLLAR_FLOOR_T = 0.003
COLLAR_Z0 = (STEM_TOP + SOCKET_FLOOR_H + COLLAR_FLOOR_T + LAMP_TRAVEL
             + LAMP_PITCH * LAMP_OVERTURN + 0.0005)   # collar floor's top, unscrewed
COLLAR_R = 0.019
LUG_R, LUG_HALF = 0.017, (0.0025, 0.0015, 0.004)    # lugs: radius of centre; half sizes
LUG_COUNT = 4
# MuJoCo's constraints are soft in proportion to the inertia they act on: a light collar would
# let a push sink it without turning. A large slide armature (inertia only, no weight) makes the
# thread coupling stiff (< 1 mm under 100 N); turning the collar then takes LAMP_PITCH^2 times
# it (negligible).
SLIDE_ARMATURE = 5.0
THREAD_FRICTION = 0.25   # N m on the hinge: a push of up to ~100 N cannot spin the collar


def add_lamp(scene, name: str = "lamp"):
    """A lamp (fixed body, origin on the table): a round foot, a stem, and a socket cup on top
    whose collar is the thread described in the module docstring.

    Joints `{name}_collar_turn` (hinge about +z; 0 = unscrewed, turning clockwise seen from
    above makes it negative, down to -(LAMP_TURN + LAMP_OVERTURN)) and `{name}_collar_slide`
    (its depth, coupled to the hinge). Sites: `{name}_socket_top` where a bulb's origin lies
    when it stands on the unscrewed collar, `{name}_socket` where it lies once screwed in by a
    full turn. Returns the body."""
    S = scene
    lamp = S.body(name)
    S.cylinder(lamp, LAMP_BASE_R, LAMP_BASE_H / 2, LAMP_RGBA, pos=(0, 0, LAMP_BASE_H / 2),
               name=f"{name}_foot")
    S.cylinder(lamp, STEM_R, (STEM_TOP - LAMP_BASE_H) / 2, LAMP_RGBA,
               pos=(0, 0, (STEM_TOP + LAMP_BASE_H) / 2), name=f"{name}_stem")
    out_r = SOCKET_IN_R + SOCKET_T
    S.cylinder(lamp, out_r, SOCKET_FLOOR_H / 2, SOCKET_RGBA,
               pos=(0, 0, STEM_TOP + SOCKET_FLOOR_H / 2), name=f"{name}_socket_floor")
    wall_bottom = STEM_TOP + SOCKET_FLOOR_H
    wall_h = SOCKET_WALL_TOP - wall_bottom
    r = SOCKET_IN_R + SOCKET_T / 2
    seg = 2 * r * np.tan(np.pi / SOCKET_SEGMENTS) + 0.001
    for k in range(SOCKET_SEGMENTS):
        a = 2 * np.pi * k / SOCKET_SEGMENTS
        S.box(lamp, (SOCKET_T / 2, seg / 2, wall_h / 2), SOCKET_RGBA,
              pos=(r * np.cos(a), r * np.sin(a), wall_bottom + wall_h / 2),
              quat_wxyz=yaw_quat_wxyz(a), name=f"{name}_socket_wall{k}")
    # a shade: a cone opening upwards around the socket, below its rim (the fingers turning a
    # bulb stay above it)
    r0, r1, z0, z1 = out_r + 0.002, SHADE_R, SHADE_Z[0], SHADE_Z[1]
    tilt = np.arctan2(r1 - r0, z1 - z0)
    slant = np.hypot(r1 - r0, z1 - z0)
    seg = 2 * r1 * np.tan(np.pi / SOCKET_SEGMENTS) + 0.002
    for k in range(SOCKET_SEGMENTS):
        a = 2 * np.pi * k / SOCKET_SEGMENTS
        qz = np.array([np.cos(a / 2), 0, 0, np.sin(a / 2)])
        qy = np.array([np.cos(tilt / 2), 0, np.sin(tilt / 2), 0])
        q = np.zeros(4)
        mujoco.mju_mulQuat(q, qz, qy)
        rm = (r0 + r1) / 2
        S.box(lamp, (0.0015, seg / 2, slant / 2), SHADE_RGBA,
              pos=(rm * np.cos(a), rm * np.sin(a), (z0 + z1) / 2), quat_wxyz=q,
              name=f"{name}_shade{k}")
    S.site(lamp, f"{name}_socket_top", pos=(0, 0, COLLAR_Z0))
    S.site(lamp, f"{name}_socket", pos=(0, 0, COLLAR_Z0 - LAMP_TRAVEL))

    # the collar (its origin is the top of its floor); a child of the lamp, so it does not
    # collide with the socket's cup
    c = S.body(f"{name}_collar", pos=(0, 0, COLLAR_Z0), parent=lamp)
    c.add_joint(name=f"{name}_collar_slide", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[0, 0, 1],
                range=[-(LAMP_TRAVEL + LAMP_PITCH * LAMP_OVERTURN), 0.0], armature=SLIDE_ARMATURE,
                damping=1.0)
    c.add_joint(name=f"{name}_collar_turn", type=mujoco.mjtJoint.mjJNT_HINGE, axis=[0, 0, 1],
                range=[-(LAMP_TURN + LAMP_OVERTURN), 0.0], armature=0.002, damping=0.005,
                frictionloss=THREAD_FRICTION)
    S.cylinder(c, COLLAR_R, COLLAR_FLOOR_T / 2, COLLAR_RGBA, pos=(0, 0, -COLLAR_FLOOR_T / 2),
               name=f"{name}_collar_floor", mass=0.01, friction=(0.6, 0.01, 0.001))
    for k in range(LUG_COUNT):
        a = 2 * np.pi * k / LUG_COUNT
        S.box(c, LUG_HALF, COLLAR_RGBA, pos=(LUG_R * np.cos(a), LUG_R * np.sin(a), LUG_HALF[2]),
              quat_wxyz=yaw_quat_wxyz(a), name=f"{name}_lug{k}", mass=0.001,
              friction=(0.4, 0.01, 0.001))
    eq = S.spec.add_equality(name=f"{name}_thread")
    eq.type = mujoco.mjtEq.mjEQ_JOINT
    eq.objtype = mujoco.mjtObj.mjOBJ_JOINT
    eq.name1 = f"{name}_collar_slide"
    eq.name2 = f"{name}_collar_turn"
    data = [0.0] * len(eq.data)
    data[1] = LAMP_PITCH
    eq.data = data
    eq.solref = [0.004, 1.0]
    eq.solimp = [0.99, 0.999, 0.001, 0.5, 2.0]
    return lamp
