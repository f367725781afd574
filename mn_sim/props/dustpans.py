"""Dustpans: a tall (upright, long-handled) and a short (hand) dustpan (sweep_to_dustpan_of_size).

A dustpan is a fixed body. Its mouth faces -x of the body frame (where sweeping comes from):
a thin floor plate with a shallow ramp at the mouth, so crumbs pushed along the table slide
up onto the floor, walls on the other three sides, and a handle at the back - an upright
pole on the tall dustpan, a short stub on the short one. Body origin: on the table at the
centre of the footprint. Site `{name}_success` marks the region over the floor where swept
crumbs end up (half extents SUCCESS_HALF)."""
from __future__ import annotations

import numpy as np

FLOOR_T = 0.002                 # floor plate thickness (its top is this high above the table)
RAMP_LEN = 0.02                 # the mouth's ramp rises FLOOR_T over this length
MOUTH_X = -0.075                # the ramp's front edge (body x)
FLOOR_X0 = MOUTH_X + RAMP_LEN   # floor: FLOOR_X0 .. BACK_X
BACK_X = 0.075
WALL_T = 0.006                  # wall thickness
INNER_HALF_W = 0.12             # half the inside width (body y)
# tall / short: side wall height, back wall height
HEIGHTS = {"tall": (0.05, 0.10), "short": (0.022, 0.03)}
POLE_TOP = 0.40                 # the tall dustpan's pole reaches this high
SUCCESS_HALF = ((BACK_X - FLOOR_X0) / 2 + 0.003, INNER_HALF_W, 0.03)
PAN_RGBA = (0.18, 0.42, 0.72, 1.0)
GRIP_RGBA = (0.12, 0.12, 0.12, 1.0)


def add_dustpan(scene, name: str, size: str, rgba=PAN_RGBA):
    """A dustpan of `size` 'tall' or 'short' (see the module docstring); returns the body."""
    S = scene
    side_h, back_h = HEIGHTS[size]
    d = S.body(name)
    # floor plate and the ramp at the mouth (a thin plate tilted up by FLOOR_T over RAMP_LEN;
    # its front edge sits on the table top)
    S.box(d, ((BACK_X - FLOOR_X0) / 2, INNER_HALF_W, FLOOR_T / 2), rgba,
          pos=((BACK_X + FLOOR_X0) / 2, 0.0, FLOOR_T / 2), name=f"{name}_floor")
    a = np.arctan2(FLOOR_T, RAMP_LEN)
    half_len, t = np.hypot(FLOOR_T, RAMP_LEN) / 2, FLOOR_T / 2
    top = np.array([MOUTH_X + RAMP_LEN / 2, 0.0, FLOOR_T / 2])
    normal = np.array([-np.sin(a), 0.0, np.cos(a)])
    S.box(d, (half_len, INNER_HALF_W, t), rgba, pos=top - t * normal,
          quat_wxyz=(np.cos(-a / 2), 0.0, np.sin(-a / 2), 0.0), name=f"{name}_lip")
    # walls: two sides (running from the floor's front to the back) and the back
    side_len = BACK_X + WALL_T - FLOOR_X0
    for s in (-1, 1):
        S.box(d, (side_len / 2, WALL_T / 2, side_h / 2), rgba,
              pos=(FLOOR_X0 + side_len / 2, s * (INNER_HALF_W + WALL_T / 2), side_h / 2))
    S.box(d, (WALL_T / 2, INNER_HALF_W + WALL_T, back_h / 2), rgba,
          pos=(BACK_X + WALL_T / 2, 0.0, back_h / 2), name=f"{name}_back")
    if size == "tall":   # an upright pole with a grip on top
        pole_half = (POLE_TOP - back_h) / 2
        S.cylinder(d, 0.009, pole_half, rgba, pos=(BACK_X + WALL_T / 2, 0.0, back_h + pole_half))
        S.capsule(d, 0.014, 0.035, GRIP_RGBA, pos=(BACK_X + WALL_T / 2, 0.0, POLE_TOP),
                  quat_wxyz=(np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0))
    else:                # a short stub handle sticking out of the back
        S.box(d, (0.045, 0.014, 0.007), GRIP_RGBA, pos=(BACK_X + WALL_T + 0.045, 0.0, 0.02))
    S.site(d, f"{name}_success", pos=((BACK_X + FLOOR_X0) / 2, 0.0, SUCCESS_HALF[2]))
    return d
