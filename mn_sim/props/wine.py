"""A wine bottle and a three-slot wine rack (place_wine_at_rack_location).

The bottle is a free body taken by friction: its body and neck get stiff contacts
(mn_sim.props.materials); the rack is fixed (move it with Sim.set_body_pose)."""
from __future__ import annotations

import mujoco
import numpy as np

from mn_sim.props.materials import stiff

GLASS = (0.08, 0.30, 0.12, 1.0)      # dark green bottle glass
FOIL = (0.55, 0.05, 0.08, 1.0)       # capsule over the cork
LABEL = (0.93, 0.89, 0.78, 1.0)
WOOD = (0.62, 0.43, 0.25, 1.0)
WOOD_DARK = (0.42, 0.27, 0.14, 1.0)

# bottle (metres): a cylindrical body, a short shoulder and a neck, along the body's +z
BOTTLE_R, BOTTLE_BODY_HALF = 0.03, 0.075
SHOULDER_R, SHOULDER_HALF = 0.022, 0.012
NECK_R, NECK_HALF = 0.012, 0.04
NECK_Z = BOTTLE_BODY_HALF + 2 * SHOULDER_HALF + NECK_HALF   # neck's centre in the bottle frame

# rack: three V-shaped cradles side by side along the rack's y, each holding a bottle lying
# along the rack's x
RACK_SLOTS = ("left", "middle", "right")
SLOT_Y = {"left": 0.1, "middle": 0.0, "right": -0.1}   # left = +y, the robot's left
SLOT_Z = 0.08           # height of a resting bottle's axis above the table
CRADLE_HALF_LEN = 0.07  # half length of a cradle along x
V_ANGLE = np.pi / 4     # each board's slope (from horizontal)
BOARD_T = 0.004         # half thickness of a cradle board
BASE_T = 0.01           # half thickness of the base plank
RACK_HALF_W = 0.16      # half width of the base along y


def add_wine_bottle(scene, name: str = "wine_bottle"):
    """A wine bottle (free body, origin at the centre of its cylindrical body, neck along +z).

    Stood upright its origin is BOTTLE_BODY_HALF above the table. Geoms `{name}` (the
    body), `{name}_shoulder`, `{name}_neck`. Returns the body."""
    S = scene
    b = S.body(name, free=True)
    stiff(S.cylinder(b, BOTTLE_R, BOTTLE_BODY_HALF, GLASS, name=name, mass=0.3,
                     friction=(1.0, 0.02, 0.001)))
    z = BOTTLE_BODY_HALF + SHOULDER_HALF
    S.cylinder(b, SHOULDER_R, SHOULDER_HALF, GLASS, pos=(0, 0, z), name=f"{name}_shoulder",
               mass=0.02)
    z += SHOULDER_HALF + NECK_HALF
    stiff(S.cylinder(b, NECK_R, NECK_HALF, GLASS, pos=(0, 0, z), name=f"{name}_neck", mass=0.02,
                     friction=(1.2, 0.03, 0.001)))
    # looks only: the foil over the cork, a label, a rounded shoulder
    S.cylinder(b, NECK_R + 0.001, 0.015, FOIL, pos=(0, 0, z + NECK_HALF - 0.014),
               contype=0, conaffinity=0, mass=0.0)
    S.cylinder(b, BOTTLE_R + 0.0007, 0.035, LABEL, pos=(0, 0, -0.005), contype=0,
               conaffinity=0, mass=0.0)
    S.geom(b, mujoco.mjtGeom.mjGEOM_ELLIPSOID, (BOTTLE_R, BOTTLE_R, 0.02), GLASS,
           pos=(0, 0, BOTTLE_BODY_HALF), contype=0, conaffinity=0, mass=0.0)
    return b


def add_wine_rack(scene, name: str = "wine_rack"):
    """A low wooden wine rack facing -x of its body frame (origin on the table at the centre of
    its footprint) with three cradles, left (+y), middle and right (-y).

    Each cradle is a V of two boards sloping at V_ANGLE: a bottle of radius BOTTLE_R laid in
    it along x rests with its axis SLOT_Z above the table on the slot's centre line and cannot
    roll out. The boards stop below the axis so a hand holding the bottle by its sides fits.
    Sites `{name}_{slot}` mark where a resting bottle's origin lies (centre of the cradle, on
    the axis). Returns the body."""
    S = scene
    rack = S.body(name)
    S.box(rack, (CRADLE_HALF_LEN + 0.01, RACK_HALF_W, BASE_T), WOOD, pos=(0, 0, BASE_T),
          name=f"{name}_base")
    apex = SLOT_Z - BOTTLE_R / np.cos(V_ANGLE)            # where the two boards' faces meet
    tangent = BOTTLE_R / np.tan(V_ANGLE)                 # apex -> tangent point along a board
    length = tangent + 0.01                              # boards end 1 cm past the bottle
    for slot in RACK_SLOTS:
        y = SLOT_Y[slot]
        for s in (-1.0, 1.0):
            # board: its inner face runs from the apex up and out at V_ANGLE
            d = np.array([s * np.cos(V_ANGLE), np.sin(V_ANGLE)])   # along the board (y, z)
            n = np.array([-s * np.sin(V_ANGLE), np.cos(V_ANGLE)])  # inner face normal
            c = np.array([y, apex]) + d * length / 2 - n * BOARD_T
            ang = s * V_ANGLE
            q = (np.cos(ang / 2), np.sin(ang / 2), 0.0, 0.0)
            S.box(rack, (CRADLE_HALF_LEN, length / 2, BOARD_T), WOOD_DARK, pos=(0, c[0], c[1]),
                  quat_wxyz=q, name=f"{name}_{slot}_board{int(s > 0)}",
                  friction=(0.9, 0.01, 0.001))
        # a block under the V down to the base
        top = apex - 0.002
        S.box(rack, (CRADLE_HALF_LEN, 0.012, (top - 2 * BASE_T) / 2), WOOD_DARK,
              pos=(0, y, (top + 2 * BASE_T) / 2))
        S.site(rack, f"{name}_{slot}", pos=(0, y, SLOT_Z))
    # end posts at the rack's sides (look of a rack frame; lower than the hand passes)
    for s in (-1.0, 1.0):
        S.box(rack, (CRADLE_HALF_LEN + 0.01, 0.008, 0.02), WOOD,
              pos=(0, s * (RACK_HALF_W - 0.008), 2 * BASE_T + 0.02))
    return rack
