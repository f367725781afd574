"""A steel safe with three shelves and a hinged door (put_money_in_safe).

The body origin sits on the table top at the centre of the footprint; the open side faces -x."""
from __future__ import annotations

import mujoco

SHELF_NAMES = ("bottom", "middle", "top")
STEEL = (0.35, 0.37, 0.4, 1.0)
DARK_STEEL = (0.22, 0.23, 0.25, 1.0)

# safe geometry (metres)
SAFE_WIDTH, SAFE_DEPTH, SAFE_WALL = 0.26, 0.22, 0.012
SAFE_PLINTH, SAFE_GAP = 0.04, 0.08        # base height, clear height of each compartment
SAFE_DOOR_OPEN = 2.3                       # rad the door stands open at (about 130 degrees)

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
