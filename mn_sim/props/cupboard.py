"""An open cupboard on a stand (put_groceries_in_cupboard): a wall cabinet without doors whose
shelf is lifted above the groceries on the table, so a grocery carried at the shelf's height
clears everything on the table.

The body origin sits on the table top at the centre of the footprint; the open front faces -x.
The compartment is tall because a top-down hand holding a grocery takes its wrist (up to 30 cm
above the fingertips) inside with it.
"""
from __future__ import annotations

CUPBOARD_WIDTH, CUPBOARD_DEPTH = 0.32, 0.22   # outer size along y and x
CUPBOARD_WALL = 0.012                          # side, back and roof boards
CUPBOARD_BOARD = 0.015                         # the shelf board the groceries stand on
CUPBOARD_STAND = 0.13                          # height of the stand under the shelf board
CUPBOARD_INNER_H = 0.42                        # clear height of the compartment
CUPBOARD_FLOOR = CUPBOARD_STAND + CUPBOARD_BOARD   # shelf top above the table
CUPBOARD_HEIGHT = CUPBOARD_FLOOR + CUPBOARD_INNER_H + CUPBOARD_WALL   # overall

PAINT = (0.93, 0.91, 0.85, 1.0)
INSIDE = (0.8, 0.78, 0.72, 1.0)
STAND = (0.45, 0.33, 0.22, 1.0)


def cupboard_inner_half() -> tuple[float, float, float]:
    """Half sizes of the compartment's clear volume about the `{name}_bottom_shelf` site."""
    return ((CUPBOARD_DEPTH - CUPBOARD_WALL) / 2, CUPBOARD_WIDTH / 2 - CUPBOARD_WALL,
            CUPBOARD_INNER_H / 2)


def add_cupboard(scene, name: str = "cupboard"):
    """Stand, shelf board, two sides, back and roof. Site `{name}_bottom_shelf` marks the
    centre of the compartment (see cupboard_inner_half). Returns the cupboard body."""
    S = scene
    w, d, t = CUPBOARD_WIDTH / 2, CUPBOARD_DEPTH / 2, CUPBOARD_WALL
    cup = S.body(name)
    # the stand: four legs and a low rail joining them at the back and sides
    for sx in (-1, 1):
        for sy in (-1, 1):
            S.box(cup, (0.015, 0.015, CUPBOARD_STAND / 2), STAND,
                  pos=(sx * (d - 0.02), sy * (w - 0.02), CUPBOARD_STAND / 2))
    S.box(cup, (0.008, w - 0.02, 0.015), STAND, pos=(d - 0.02, 0, 0.05))
    for sy in (-1, 1):
        S.box(cup, (d - 0.02, 0.008, 0.015), STAND, pos=(0, sy * (w - 0.02), 0.05))
    # the cabinet
    floor = CUPBOARD_FLOOR
    top = floor + CUPBOARD_INNER_H
    S.box(cup, (d, w, CUPBOARD_BOARD / 2), PAINT, pos=(0, 0, CUPBOARD_STAND + CUPBOARD_BOARD / 2),
          name=f"{name}_shelf")
    S.box(cup, (t / 2, w, (top - CUPBOARD_STAND) / 2), PAINT,
          pos=(d - t / 2, 0, (top + CUPBOARD_STAND) / 2), name=f"{name}_back")
    for s in (-1, 1):
        S.box(cup, (d, t / 2, (top - CUPBOARD_STAND) / 2), PAINT,
              pos=(0, s * (w - t / 2), (top + CUPBOARD_STAND) / 2),
              name=f"{name}_side{(s + 1) // 2}")
    S.box(cup, (d, w, t / 2), PAINT, pos=(0, 0, top + t / 2), name=f"{name}_roof")
    # looks only: a shade darker inside the back, a front edge strip on the shelf
    S.box(cup, (0.001, w - t, CUPBOARD_INNER_H / 2), INSIDE,
          pos=(d - t - 0.001, 0, floor + CUPBOARD_INNER_H / 2), contype=0, conaffinity=0,
          mass=0.0)
    S.box(cup, (0.004, w, CUPBOARD_BOARD / 2 + 0.001), STAND,
          pos=(-d + 0.003, 0, CUPBOARD_STAND + CUPBOARD_BOARD / 2), contype=0, conaffinity=0,
          mass=0.0)
    S.site(cup, f"{name}_bottom_shelf", pos=(-t / 2, 0, floor + CUPBOARD_INNER_H / 2))
    return cup
