"""Groceries (put_groceries_in_cupboard): RLBench's nine YCB-like items built from boxes and
cylinders, each recognisable by shape, size and colours, scaled so the Panda's gripper (8 cm
open) can take it from above across its narrow side.

Every grocery is a free body whose origin is the centre of its main shape (a box or a
cylinder standing upright along +z), so standing on the table its origin is `half_height`
above the table top. Boxes are long along their local x and narrow along y: a top-down grasp
closes across y.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from mn_sim.props.materials import stiff

# the order of RLBench's GROCERY_NAMES (PerAct's fork)
GROCERY_NAMES = ("crackers", "chocolate jello", "strawberry jello", "soup", "tuna", "spam",
                 "coffee", "mustard", "sugar")


@dataclass(frozen=True)
class Grocery:
    name: str                     # RLBench's name; the body is name with '_' for ' '
    kind: str                     # "box" or "can"
    half: tuple                   # box: half sizes (x, y, z); can: (radius, radius, half height)
    rgba: tuple                   # main colour
    mass: float
    top_extra: float = 0.0        # how far a neck/cap stands above the main shape

    @property
    def body(self) -> str:
        return self.name.replace(" ", "_")

    @property
    def half_height(self) -> float:
        return self.half[2]

    @property
    def height(self) -> float:
        """Overall height (with any cap)."""
        return 2 * self.half[2] + self.top_extra

    @property
    def radius(self) -> float:
        """Radius of the footprint's bounding circle."""
        if self.kind == "box":
            return float(np.hypot(self.half[0], self.half[1]))
        return self.half[0] / np.cos(np.pi / CAN_SIDES)   # the contact prism's corners


GROCERIES = (
    Grocery("crackers", "box", (0.05, 0.025, 0.06), (0.78, 0.08, 0.06, 1.0), 0.20),
    Grocery("chocolate jello", "box", (0.042, 0.018, 0.033), (0.36, 0.2, 0.1, 1.0), 0.10),
    Grocery("strawberry jello", "box", (0.038, 0.016, 0.03), (0.95, 0.35, 0.5, 1.0), 0.09),
    Grocery("soup", "can", (0.033, 0.033, 0.05), (0.8, 0.1, 0.1, 1.0), 0.25),
    Grocery("tuna", "can", (0.032, 0.032, 0.0175), (0.72, 0.74, 0.76, 1.0), 0.12),
    Grocery("spam", "box", (0.045, 0.025, 0.0375), (0.12, 0.25, 0.62, 1.0), 0.2),
    Grocery("coffee", "can", (0.034, 0.034, 0.055), (0.1, 0.12, 0.3, 1.0), 0.3),
    Grocery("mustard", "box", (0.028, 0.02, 0.05), (0.98, 0.85, 0.05, 1.0), 0.2, 0.015),
    Grocery("sugar", "box", (0.042, 0.02, 0.055), (0.96, 0.96, 0.93, 1.0), 0.2),
)
assert tuple(g.name for g in GROCERIES) == GROCERY_NAMES

CAN_SIDES = 8        # a can's contact shape: an octagonal prism with the can's radius as inradius
CAN_LOOK = 1.04      # the drawn cylinder's radius over the inradius

WHITE = (0.95, 0.95, 0.95, 1.0)
YELLOW = (0.98, 0.8, 0.1, 1.0)
BLUE = (0.15, 0.3, 0.8, 1.0)
SILVER = (0.7, 0.72, 0.75, 1.0)
RED = (0.85, 0.1, 0.1, 1.0)
GOLD = (0.85, 0.65, 0.2, 1.0)


def _look(S, b, kind, size, rgba, pos=(0, 0, 0)):
    """A geom for looks only (no contacts, no mass)."""
    add = S.box if kind == "box" else S.cylinder
    if kind == "box":
        return add(b, size, rgba, pos=pos, contype=0, conaffinity=0, mass=0.0)
    return add(b, size[0], size[1], rgba, pos=pos, contype=0, conaffinity=0, mass=0.0)


def _band(S, b, g: Grocery, z: float, half_h: float, rgba, faces: str = "xy"):
    """A printed band round a box (or a can) at height z, a hair proud of the surface."""
    hx, hy, _ = g.half
    e = 0.0008
    if g.kind == "can":
        _look(S, b, "can", (hx * CAN_LOOK + e, half_h), rgba, pos=(0, 0, z))
        return
    if "y" in faces:   # the wide faces
        _look(S, b, "box", (hx * 0.8, hy + e, half_h), rgba, pos=(0, 0, z))
    if "x" in faces:
        _look(S, b, "box", (hx + e, hy * 0.8, half_h), rgba, pos=(0, 0, z))


def add_grocery(scene, g: Grocery):
    """One grocery as a free body named `g.body` (geom of the same name for its main shape)."""
    S = scene
    b = S.body(g.body, free=True)
    hx, hy, hz = g.half
    fr = (1.0, 0.01, 0.001)
    if g.kind == "box":
        stiff(S.box(b, g.half, g.rgba, name=g.body, mass=g.mass, friction=fr))
    else:
        # the can touches the world as an octagonal prism (faces normal to its local x, y and
        # the diagonals) and looks like the cylinder drawn round it
        a = np.pi / CAN_SIDES
        rc = hx / np.cos(a)
        verts = [(rc * np.cos(a + 2 * a * k), rc * np.sin(a + 2 * a * k), z)
                 for k in range(CAN_SIDES) for z in (-hz, hz)]
        S.spec.add_mesh(name=f"{g.body}_mesh", uservert=list(np.ravel(verts)))
        m = b.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"{g.body}_mesh",
                       rgba=list(g.rgba), name=g.body, group=4)
        m.mass = g.mass
        m.friction = list(fr)
        stiff(m)
        _look(S, b, "can", (hx * CAN_LOOK, hz), g.rgba)
    n = g.body
    if n == "crackers":          # red box, big yellow-orange panel with a white stripe
        _band(S, b, g, 0.01, 0.035, (1.0, 0.72, 0.1, 1.0), "y")
        _band(S, b, g, 0.01, 0.008, WHITE, "y")
    elif n == "chocolate_jello":  # brown box with a blue-and-white logo band
        _band(S, b, g, 0.008, 0.012, BLUE)
        _band(S, b, g, 0.008, 0.004, WHITE)
    elif n == "strawberry_jello":  # pink-red box with a white band and a red strawberry
        _band(S, b, g, 0.005, 0.01, WHITE)
        _look(S, b, "box", (0.01, hy + 0.0016, 0.006), RED, pos=(0, 0, 0.005))
    elif n == "soup":             # red top half, white bottom half, silver lids
        _band(S, b, g, -hz / 2, hz / 2, WHITE)
        _look(S, b, "can", (hx - 0.004, 0.0008), SILVER, pos=(0, 0, hz))
        _look(S, b, "can", (hx * CAN_LOOK + 0.0012, 0.003), GOLD, pos=(0, 0, -0.002))
    elif n == "tuna":             # squat silver can with a blue label
        _band(S, b, g, 0.0, 0.01, BLUE)
        _look(S, b, "can", (hx - 0.004, 0.0008), SILVER, pos=(0, 0, hz))
    elif n == "spam":             # blue tin with a yellow band and a white top
        _band(S, b, g, -0.004, 0.012, YELLOW)
        _look(S, b, "box", (hx - 0.004, hy - 0.004, 0.0008), SILVER, pos=(0, 0, hz))
    elif n == "coffee":           # tall navy can, gold band, black plastic lid
        _band(S, b, g, 0.0, 0.02, GOLD)
        _look(S, b, "can", (hx * CAN_LOOK + 0.0015, 0.006), (0.05, 0.05, 0.05, 1.0),
              pos=(0, 0, hz - 0.005))
    elif n == "mustard":          # yellow squeeze bottle: neck and red cap on top
        S.cylinder(b, 0.012, 0.004, g.rgba, pos=(0, 0, hz + 0.004), mass=0.005)
        S.cylinder(b, 0.011, 0.0035, RED, pos=(0, 0, hz + 0.0115), mass=0.005)
        _band(S, b, g, -0.01, 0.018, (0.9, 0.2, 0.1, 1.0), "y")
    elif n == "sugar":            # white box with a yellow panel and a blue stripe
        _band(S, b, g, 0.0, 0.03, YELLOW, "y")
        _band(S, b, g, 0.022, 0.006, BLUE)
    return b
