"""Dirt: small light crumbs that slide when swept (sweep_to_dustpan_of_size).

Each crumb is a free body with one small box (origin at its centre); its own friction rules
its contacts (priority 1), so it slides while pushed and stops soon after."""
from __future__ import annotations

DIRT_HALF = (0.008, 0.008, 0.007)        # a crumb: 1.6 x 1.6 x 1.4 cm
DIRT_RGBA = (0.3, 0.19, 0.08, 1.0)


def add_dirt(scene, name: str, rgba=DIRT_RGBA, mass: float = 0.004, friction: float = 0.4):
    """One crumb of dirt (free body and geom `{name}`); returns the body."""
    body = scene.body(name, free=True)
    g = scene.box(body, DIRT_HALF, rgba, name=name, mass=mass,
                  friction=(friction, 0.005, 0.0001))
    g.priority = 1
    g.condim = 4           # torsional friction: a pushed crumb doesn't spin on a point contact
    return body
