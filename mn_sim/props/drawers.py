"""A chest of three drawers (open_drawer, put_item_in_drawer)."""
from __future__ import annotations

import mujoco

DRAWER_NAMES = ("bottom", "middle", "top")
WOOD = (0.55, 0.38, 0.22, 1.0)
HANDLE = (0.15, 0.15, 0.15, 1.0)
PLINTH = 0.08
HANDLE_OUT = 0.045   # how far the handle bar stands off the drawer front


def add_drawer_cabinet(scene, name: str = "cabinet", width: float = 0.26, depth: float = 0.24,
                       drawer_h: float = 0.09, wall: float = 0.01):
    """A chest of three drawers facing -x of its body frame; each drawer slides on a joint.

    Bodies: `{name}`, `{name}_drawer_{bottom|middle|top}` (slide joint `{name}_{level}_joint`,
    0 = closed, positive = open towards -x), sites `{name}_{level}_handle` (grasp point) and
    `{name}_{level}_inside` (centre of the drawer's floor). Returns the cabinet body."""
    S = scene
    total_h = 3 * drawer_h + 4 * wall
    cab = S.body(name, pos=(0, 0, 0))
    hw, hd = width / 2, depth / 2
    # a plinth lifts the drawers so the hand (20 cm across its fingers) clears the table
    S.box(cab, (hd, hw, PLINTH / 2), WOOD, pos=(0, 0, PLINTH / 2))
    cab = S.body(f"{name}_carcass", pos=(0, 0, PLINTH), parent=cab)
    # shell: back, two sides, top, bottom and two shelves
    S.box(cab, (wall / 2, hw, total_h / 2), WOOD, pos=(hd - wall / 2, 0, total_h / 2))
    for s in (-1, 1):
        S.box(cab, (hd, wall / 2, total_h / 2), WOOD, pos=(0, s * (hw - wall / 2), total_h / 2))
    for k in range(4):
        S.box(cab, (hd, hw, wall / 2), WOOD, pos=(0, 0, wall / 2 + k * (drawer_h + wall)))
    inner_w = width - 2 * wall - 0.006
    for k, level in enumerate(DRAWER_NAMES):
        z0 = wall + k * (drawer_h + wall)   # bottom of this slot
        d = S.body(f"{name}_drawer_{level}", pos=(0, 0, z0), parent=cab)
        d.add_joint(name=f"{name}_{level}_joint", type=mujoco.mjtJoint.mjJNT_SLIDE,
                    axis=[-1, 0, 0], range=[0.0, 0.22], damping=8.0, armature=0.5,
                    frictionloss=0.5)
        dh = drawer_h - 0.008
        fz = dh / 2 + 0.002
        S.box(d, (0.006, inner_w / 2, dh / 2), WOOD, pos=(-hd + 0.006, 0, fz), mass=0.3)  # front
        S.box(d, (hd - 0.02, inner_w / 2, 0.003), WOOD, pos=(0.0, 0, 0.004), mass=0.2)   # floor
        for s in (-1, 1):
            S.box(d, (hd - 0.02, 0.003, dh / 3), WOOD,
                  pos=(0.0, s * (inner_w / 2 - 0.003), dh / 3 + 0.004), mass=0.05)
        S.box(d, (0.003, inner_w / 2, dh / 3), WOOD, pos=(hd - 0.026, 0, dh / 3 + 0.004),
              mass=0.05)
        # handle: a horizontal bar on two posts, sticking out towards -x
        S.box(d, (0.004, 0.05, 0.006), HANDLE, pos=(-hd - HANDLE_OUT, 0, fz), mass=0.02,
              name=f"{name}_{level}_handle_bar")
        for s in (-1, 1):
            S.box(d, (HANDLE_OUT / 2, 0.004, 0.005), HANDLE, pos=(-hd - HANDLE_OUT / 2, s * 0.045, fz),
                  mass=0.01)
        S.site(d, f"{name}_{level}_handle", pos=(-hd - HANDLE_OUT, 0, fz))
        S.site(d, f"{name}_{level}_inside", pos=(0.0, 0, 0.012))
    return cab
