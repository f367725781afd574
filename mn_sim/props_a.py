"""Props for put_money_in_safe and meat_off_grill (MjSpec, simple shapes).

Frames: every prop's body origin sits on the table top at the centre of its footprint; the
side a robot works from faces -x of the body frame.
"""
from __future__ import annotations

import mujoco

SHELF_NAMES = ("bottom", "middle", "top")
STEEL = (0.35, 0.37, 0.4, 1.0)
DARK_STEEL = (0.22, 0.23, 0.25, 1.0)
GRILL_BLACK = (0.08, 0.08, 0.08, 1.0)
GRATE = (0.3, 0.3, 0.3, 1.0)
COALS = (0.55, 0.12, 0.05, 1.0)

# safe geometry (metres)
SAFE_WIDTH, SAFE_DEPTH, SAFE_WALL = 0.26, 0.22, 0.012
SAFE_PLINTH, SAFE_GAP = 0.04, 0.08        # base height, clear height of each compartment
SAFE_DOOR_OPEN = 2.3                       # rad the door stands open at (about 130 degrees)

# grill geometry (metres)
GRILL_LEN, GRILL_WID, GRILL_H = 0.32, 0.24, 0.09   # firebox footprint and height
GRATE_BAR = 0.004                                   # grate bar half height
GRILL_TOP = GRILL_H + 2 * GRATE_BAR                 # what food rests on, above the table


def stiffen(geom):
    """Stiff contacts for a graspable geom: with MuJoCo's default solref (0.02 s) the Panda's
    fingers, closing fast at up to 80 N, sink a centimetre or more into a light object and
    can tip it over; a 4 ms time constant that dominates the mix keeps that under 1 mm."""
    geom.solref = [0.004, 1.0]
    geom.solmix = 1000.0
    return geom


def safe_shelf_z(k: int) -> float:
    """Height of compartment k's floor (0 = bottom) above the safe's base."""
    return SAFE_PLINTH + k * (SAFE_GAP + SAFE_WALL)


def add_safe(scene, name: str = "safe"):
    """A steel safe with three shelves, open front towards -x, door on a hinge at the +y edge.

    Bodies: `{name}`, `{name}_door` (hinge joint `{name}_door_joint`, 0 = closed, negative =
    open). Sites `{name}_shelf_{bottom|middle|top}` sit at the centre of each compartment
    (its clear volume is SAFE_DEPTH - SAFE_WALL deep, SAFE_WIDTH - 2 SAFE_WALL wide and
    SAFE_GAP high). Returns the safe body."""
    S = scene
    w, d, t = SAFE_WIDTH / 2, SAFE_DEPTH / 2, SAFE_WALL
    total_h = safe_shelf_z(3)
    safe = S.body(name)
    S.box(safe, (d, w, SAFE_PLINTH / 2), DARK_STEEL, pos=(0, 0, SAFE_PLINTH / 2))
    S.box(safe, (t / 2, w, (total_h - SAFE_PLINTH) / 2), STEEL,
          pos=(d - t / 2, 0, (total_h + SAFE_PLINTH) / 2))                       # back
    for s in (-1, 1):
        S.box(safe, (d, t / 2, (total_h - SAFE_PLINTH) / 2), STEEL,
              pos=(0, s * (w - t / 2), (total_h + SAFE_PLINTH) / 2))              # sides
    for k in range(1, 4):                                                         # shelves, roof
        S.box(safe, (d, w, t / 2), STEEL, pos=(0, 0, safe_shelf_z(k) - t / 2))
    inner_d = SAFE_DEPTH - t
    for k, level in enumerate(SHELF_NAMES):
        S.site(safe, f"{name}_shelf_{level}",
               pos=(-d + inner_d / 2, 0, safe_shelf_z(k) + SAFE_GAP / 2))
    # the door: hinged at the front +y edge; closed it spans the front along -y
    door = S.body(f"{name}_door", pos=(-d - 0.012, w, 0.0), parent=safe)
    door.add_joint(name=f"{name}_door_joint", type=mujoco.mjtJoint.mjJNT_HINGE,
                   axis=[0, 0, 1], range=[-2.4, 0.0], damping=5.0, frictionloss=2.0)
    S.box(door, (0.01, w, total_h / 2), STEEL, pos=(0, -w, total_h / 2), mass=3.0)
    S.box(door, (0.008, 0.012, 0.03), DARK_STEEL, pos=(-0.018, -2 * w + 0.04, total_h / 2),
          mass=0.1)                                                               # handle
    S.cylinder(door, 0.025, 0.006, DARK_STEEL, pos=(-0.016, -w, total_h * 0.6), mass=0.1,
               quat_wxyz=(0.7071068, 0, 0.7071068, 0))                            # dial
    return safe


def add_grill(scene, name: str = "grill"):
    """A table-top barbecue: a black firebox with glowing coals and a grate of bars on top.

    Food resting on the grate has its bottom GRILL_TOP above the table. Returns the body."""
    S = scene
    L, W = GRILL_LEN / 2, GRILL_WID / 2
    t = 0.01
    g = S.body(name)
    S.box(g, (L, W, 0.01), GRILL_BLACK, pos=(0, 0, 0.01))                         # floor
    for s in (-1, 1):
        S.box(g, (L, t / 2, GRILL_H / 2), GRILL_BLACK, pos=(0, s * (W - t / 2), GRILL_H / 2))
        S.box(g, (t / 2, W, GRILL_H / 2), GRILL_BLACK, pos=(s * (L - t / 2), 0, GRILL_H / 2))
    S.box(g, (L - t, W - t, 0.01), COALS, pos=(0, 0, GRILL_H - 0.035), contype=0,
          conaffinity=0)
    n = 11
    for i in range(n):   # bars along x
        y = -W + t + (2 * W - 2 * t) * (i + 0.5) / n
        S.box(g, (L - t / 2, 0.004, GRATE_BAR), GRATE, pos=(0, y, GRILL_H + GRATE_BAR))
    for s in (-1, 1):    # two cross bars along y, below the others
        S.box(g, (0.004, W - t / 2, 0.003), GRATE, pos=(s * L * 0.6, 0, GRILL_H + 0.001),
              contype=0, conaffinity=0)
    for s in (-1, 1):    # side handles
        S.box(g, (0.01, 0.04, 0.008), GRILL_BLACK, pos=(0, s * (W + 0.02), GRILL_H - 0.02))
    return g
