"""Blocks: graspable 5 cm cubes (stack_blocks) and sliding boxes with their own friction
(slide_block_to_color_target, reach_and_drag)."""
from __future__ import annotations

from mn_sim.props.materials import stiff

def add_free_box(scene, name: str, half_sizes, rgba, mass: float, friction: float):
    """A free box whose own friction rules its contacts (priority 1 beats the table's 1.0).

    Body and geom `{name}`; the body origin is the box centre."""
    body = scene.body(name, pos=(0.0, 0.0, 0.0), free=True)
    g = scene.box(body, half_sizes, rgba, name=name, mass=mass,
                  friction=(friction, 0.005, 0.0001))
    g.priority = 1
    g.condim = 4           # torsional friction too: pushed blocks don't spin on a point contact
    return body


BLOCK_HALF = 0.025


def add_block(scene, name: str, rgba=(0.5, 0.5, 0.5, 1.0)):
    """A 5 cm cube (free body, origin at its centre) with geom `{name}`."""
    b = scene.body(name, free=True)
    stiff(scene.box(b, (BLOCK_HALF,) * 3, rgba, name=name, mass=0.08,
                    friction=(1.0, 0.01, 0.001)))
    return b
