"""Brushes: a small push broom lying flat on the table (sweep_to_dustpan_of_size).

The broom is one free body shaped like a T: a square wooden handle along the body's -x and,
at its +x end, a head (a block with a strip of bristles under it) running across, along body
y. Handle, head and bristles all rest on the table, so the broom lies flat and the gripper
takes the handle from above like a stick. Pushed along +x, the head's broad face shoves what
is in front of it. Body origin: on the table at the centre of the bristles' footprint
(z = 0 is the surface it lies on).
"""
from __future__ import annotations

from mn_sim.props.materials import stiff

HANDLE_HALF = (0.08, 0.0125, 0.0125)     # square handle: half length (x), half width, half height
HEAD_HALF_DEPTH = 0.015                  # head half size along the push direction (x)
HEAD_HALF_WIDTH = 0.09                   # head half width (across the push direction, y)
BRISTLE_H = 0.012                        # bristle strip height (bottom on the table)
HEAD_BLOCK_H = 0.02                      # wooden block on top of the bristles
HANDLE_X = -(HEAD_HALF_DEPTH + HANDLE_HALF[0])   # handle centre, body x
HANDLE_END = HANDLE_X - HANDLE_HALF[0]           # far end of the handle, body x

WOOD = (0.62, 0.42, 0.22, 1.0)
HEAD = (0.75, 0.12, 0.1, 1.0)
BRISTLES = (0.9, 0.78, 0.42, 1.0)


def add_broom(scene, name: str = "broom"):
    """A free push broom (see the module docstring). Geoms `{name}_handle`, `{name}_head`,
    `{name}_bristles`; returns the body."""
    S = scene
    b = S.body(name, free=True)
    stiff(S.box(b, HANDLE_HALF, WOOD, pos=(HANDLE_X, 0.0, HANDLE_HALF[2]), name=f"{name}_handle",
                mass=0.03, friction=(1.0, 0.005, 0.0001)))
    S.box(b, (HEAD_HALF_DEPTH, HEAD_HALF_WIDTH, HEAD_BLOCK_H / 2), HEAD,
          pos=(0.0, 0.0, BRISTLE_H + HEAD_BLOCK_H / 2), name=f"{name}_head", mass=0.03,
          friction=(0.5, 0.005, 0.0001))
    # the bristles: one collision box (slides over the table with low friction), with a few
    # darker tufts drawn on it for looks
    S.box(b, (HEAD_HALF_DEPTH * 0.8, HEAD_HALF_WIDTH * 0.97, BRISTLE_H / 2), BRISTLES,
          pos=(0.0, 0.0, BRISTLE_H / 2), name=f"{name}_bristles", mass=0.015,
          friction=(0.3, 0.005, 0.0001))
    for i in range(7):
        y = -HEAD_HALF_WIDTH * 0.85 + i * HEAD_HALF_WIDTH * 1.7 / 6
        S.box(b, (HEAD_HALF_DEPTH * 0.82, 0.002, BRISTLE_H / 2 * 0.95), (0.6, 0.5, 0.25, 1.0),
              pos=(0.0, y, BRISTLE_H / 2), contype=0, conaffinity=0)
    return b
