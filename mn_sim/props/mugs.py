"""Mugs with handles and a mug tree (place_cups): a post on a round foot with three spokes that
rise from it at different heights; a mug hangs on a spoke by its handle.

Mug frame: origin at the centre of the mug (half way up its axis), z up, the handle on +x. The
handle is a closed loop (two bars and an upright) whose opening faces along the mug's y axis,
so a spoke threads it when the spoke runs along the mug's y. Tree frame: origin on the table
under the post; spoke k leaves the post at height SPOKE_HEIGHTS[k] towards SPOKE_ANGLES[k] (in
the tree's xy plane, 0 = +x) and rises SPOKE_RISE above the horizontal.
"""
from __future__ import annotations

import numpy as np

from mn_sim.geometry import mat_to_quat, rot_y, rot_z, xyzw_to_wxyz, yaw_quat_wxyz
from mn_sim.props.materials import stiff

# ---- mug
MUG_R, MUG_H, MUG_WALL = 0.04, 0.09, 0.005      # outer radius, height, wall thickness
MUG_SEGMENTS = 16                               # the wall is a ring of flat boxes
LIFT = 0.001                                    # the wall ends this far above the mug's bottom
BASE_HALF = 0.0245                              # the square bottom plate fits inside the wall
HANDLE_OUT = 0.030                              # the handle reaches this far out of the wall
HANDLE_BAR = 0.006                              # bar thickness
HANDLE_DEPTH = 0.012                            # bar size along the mug's y
HANDLE_HALF_H = 0.028                           # outer half height of the loop
# the loop's opening: x in [MUG_R, MUG_R + HANDLE_OUT - HANDLE_BAR], |z| <= HANDLE_HALF_H - BAR
HOLE_CENTRE = np.array([MUG_R + (HANDLE_OUT - HANDLE_BAR) / 2, 0.0, 0.0])   # mug frame
MUG_COLORS = ((0.92, 0.92, 0.9, 1.0), (0.2, 0.45, 0.85, 1.0), (0.9, 0.55, 0.15, 1.0))

# ---- mug tree
SPOKE_ANGLES = (np.pi, np.pi / 2, -np.pi / 2)   # towards the robot (-x), left, right
SPOKE_HEIGHTS = (0.11, 0.18, 0.25)              # where each spoke leaves the post's axis
SPOKE_RISE = np.deg2rad(20.0)                   # spokes climb outwards, so a mug slides inwards
SPOKE_LEN, SPOKE_R = 0.13, 0.005                # from the post's axis to the tip
SPOKE_FRICTION = (1.0, 0.01, 0.01)              # sliding, torsional, rolling (m)
POST_R, FOOT_R, FOOT_H = 0.012, 0.07, 0.016
POST_H = SPOKE_HEIGHTS[-1] + 0.03
TREE_TOP = max(POST_H, SPOKE_HEIGHTS[-1] + SPOKE_LEN * np.sin(SPOKE_RISE) + SPOKE_R)
TREE_RGBA = (0.55, 0.35, 0.2, 1.0)
ZONE_OUT = 0.08                                 # detection zone: this far out along a spoke
ZONE_HALF = (0.075, 0.075, 0.075)               # its half sizes (along, across, up)


def _quat(R) -> list[float]:
    return list(xyzw_to_wxyz(mat_to_quat(R)))


def add_mug(scene, name: str, rgba=MUG_COLORS[0], pos=(0.0, 0.0, 0.0)):
    """A mug (free body, origin at its centre): a ring of MUG_SEGMENTS wall boxes (one is
    centred on each of the mug's +-x and +-y sides, where a gripper takes the rim), a square
    bottom plate and a handle loop on +x. Geoms are named `{name}_wall{k}`, `{name}_bottom`,
    `{name}_handle{k}`. `pos` is where it starts: keep free bodies apart, bodies overlapping at
    the model's reset flood the contact arena. Returns the body."""
    S = scene
    mug = S.body(name, pos=pos, free=True)
    r_mid = MUG_R - MUG_WALL / 2
    seg = 2 * r_mid * np.tan(np.pi / MUG_SEGMENTS) + 0.001    # segments overlap slightly
    for k in range(MUG_SEGMENTS):
        a = 2 * np.pi * k / MUG_SEGMENTS
        stiff(S.box(mug, (MUG_WALL / 2, seg / 2, MUG_H / 2 - LIFT / 2), rgba,
                    pos=(r_mid * np.cos(a), r_mid * np.sin(a), LIFT / 2),
                    quat_wxyz=yaw_quat_wxyz(a), name=f"{name}_wall{k}",
                    mass=0.1 / MUG_SEGMENTS, friction=(1.0, 0.01, 0.001)))
    # the mug stands on a square bottom plate (box-box: four contacts with the table); the wall
    # stops LIFT above the table, so a standing mug touches it only there
    stiff(S.box(mug, (BASE_HALF, BASE_HALF, 0.003), rgba, pos=(0, 0, -MUG_H / 2 + 0.003),
                name=f"{name}_bottom", mass=0.03, friction=(0.8, 0.01, 0.001)))
    bar_len = HANDLE_OUT + 0.003          # the bars start inside the wall
    x_bar = MUG_R - 0.003 + bar_len / 2
    for k, z in enumerate((HANDLE_HALF_H - HANDLE_BAR / 2, -HANDLE_HALF_H + HANDLE_BAR / 2)):
        stiff(S.box(mug, (bar_len / 2, HANDLE_DEPTH / 2, HANDLE_BAR / 2), rgba,
                    pos=(x_bar, 0.0, z), name=f"{name}_handle{k}", mass=0.006,
                    friction=(0.8, 0.01, 0.001)))
    stiff(S.box(mug, (HANDLE_BAR / 2, HANDLE_DEPTH / 2, HANDLE_HALF_H), rgba,
                pos=(MUG_R + HANDLE_OUT - HANDLE_BAR / 2, 0.0, 0.0), name=f"{name}_handle2",
                mass=0.006, friction=(0.8, 0.01, 0.001)))
    return mug


def spoke_direction(k: int, tree_yaw: float = 0.0) -> np.ndarray:
    """Unit vector along spoke k, outwards (world frame for a tree turned by tree_yaw)."""
    a = SPOKE_ANGLES[k] + tree_yaw
    return np.array([np.cos(a) * np.cos(SPOKE_RISE), np.sin(a) * np.cos(SPOKE_RISE),
                     np.sin(SPOKE_RISE)])


def add_mug_tree(scene, name: str = "mug_tree", pos=(0.0, 0.0, 0.0)):
    """The mug tree (fixed body, origin on the table under the post): foot, post and three
    spokes (geoms `{name}_spoke{k}`). Site `{name}_spoke{k}_root` is where spoke k leaves the
    post's axis; site `{name}_zone{k}` (turned to the spoke's heading) is the centre of the box
    in which a mug hanging on spoke k has its origin (half sizes ZONE_HALF). Returns the body."""
    S = scene
    tree = S.body(name, pos=pos)
    S.cylinder(tree, FOOT_R, FOOT_H / 2, TREE_RGBA, pos=(0, 0, FOOT_H / 2), name=f"{name}_foot")
    S.cylinder(tree, POST_R, POST_H / 2, TREE_RGBA, pos=(0, 0, POST_H / 2), name=f"{name}_post")
    for k, (a, h) in enumerate(zip(SPOKE_ANGLES, SPOKE_HEIGHTS)):
        d = spoke_direction(k)
        R = rot_z(a) @ rot_y(np.pi / 2 - SPOKE_RISE)       # capsule axis (z) along the spoke
        root = np.array([0.0, 0.0, h])
        g = S.capsule(tree, SPOKE_R, SPOKE_LEN / 2, TREE_RGBA,
                      pos=tuple(root + d * SPOKE_LEN / 2), quat_wxyz=_quat(R),
                      name=f"{name}_spoke{k}", friction=SPOKE_FRICTION)
        # the spoke's contact wins over the mug's (priority) and resists rolling (condim 6): a
        # handle turning on a wooden peg rubs, so a hanging mug stops swinging within a moment
        stiff(g, priority=2)
        g.condim = 6
        S.site(tree, f"{name}_spoke{k}_root", pos=tuple(root))
        zone = root + ZONE_OUT * np.array([np.cos(a), np.sin(a), 0.0]) + [0.0, 0.0, -0.01]
        tree.add_site(name=f"{name}_zone{k}", pos=list(zone), quat=_quat(rot_z(a)),
                      size=[0.01] * 3, rgba=[1, 0, 0, 0])
    return tree
