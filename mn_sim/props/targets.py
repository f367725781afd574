"""Flat coloured target squares lying on the table (slide_block_to_color_target, reach_and_drag)."""
from __future__ import annotations

TARGET_THICKNESS = 0.001     # flat target squares lie on the table, 1 mm thick


def add_flat_target(scene, parent, name: str, half: float, rgba, pos=(0.0, 0.0)):
    """A flat coloured square on the table (visual only: blocks slide over it freely).

    Geom `{name}`, site `{name}` at the square's centre on the table surface. Give the final
    `pos` here: a site built at its body's origin is fused with the body frame by MuJoCo's
    compiler and can no longer be moved through model.site_pos."""
    z = TARGET_THICKNESS / 2
    scene.box(parent, (half, half, z), rgba, pos=(pos[0], pos[1], z), name=name,
              contype=0, conaffinity=0)
    scene.site(parent, name, pos=(pos[0], pos[1], 0.0))
