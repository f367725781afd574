"""A light bulb with a screw base, and the coloured stand it waits on (light_bulb_in).

The bulb is a free body whose origin is the bottom of its screw base (not its centre): that is
the point a lamp's socket takes. Its base carries two small pins sticking out sideways (along
the bulb's +-x); they are the bulb's "thread" and catch the lugs of a lamp's turning collar
(mn_sim.props.lamps). The stand is a fixed body on the table top with a shallow cup the base
stands in."""
from __future__ import annotations

import mujoco
import numpy as np

from mn_sim.geometry import yaw_quat_wxyz
from mn_sim.props.materials import stiff

GLASS_RGBA = (0.95, 0.95, 0.9, 1.0)
LIT_RGBA = (1.0, 0.9, 0.1, 1.0)          # the glass once the bulb sits in a lamp (RLBench: yellow)
METAL_RGBA = (0.72, 0.72, 0.74, 1.0)

BULB_BASE_R, BULB_BASE_H = 0.011, 0.03   # screw base (metal)
BULB_PIN_R = 0.018                       # the pins reach this far from the bulb's axis
BULB_PIN_HALF = (0.004, 0.0015, 0.0025)  # radial, tangential, vertical half sizes of a pin
BULB_PIN_Z = 0.0035                      # pins' centre above the bulb's origin
GLASS_R, GLASS_Z = 0.025, 0.05           # glass sphere radius and its centre above the origin

HOLDER_R, HOLDER_H = 0.03, 0.04          # the stand's pedestal (radius, height of its top)
CUP_IN_R, CUP_T, CUP_H = 0.021, 0.005, 0.012   # the cup's ring on top of the pedestal
HOLDER_SEGMENTS = 12


def add_bulb(scene, name: str):
    """A light bulb (free body, origin at the bottom of its base): a metal screw base with two
    pins, under a glass sphere (`{name}_glass`, the part to grasp, GLASS_Z above the origin).
    Returns the body."""
    S = scene
    b = S.body(name, free=True)
    stiff(S.cylinder(b, BULB_BASE_R, BULB_BASE_H / 2, METAL_RGBA, pos=(0, 0, BULB_BASE_H / 2),
                     name=f"{name}_base", mass=0.02, friction=(0.6, 0.01, 0.001)))
    pin_x = BULB_PIN_R - BULB_PIN_HALF[0]
    for k, sx in enumerate((1.0, -1.0)):
        stiff(S.box(b, BULB_PIN_HALF, METAL_RGBA, pos=(sx * pin_x, 0, BULB_PIN_Z),
                    name=f"{name}_pin{k}", mass=0.001, friction=(0.5, 0.01, 0.001)))
    stiff(S.geom(b, mujoco.mjtGeom.mjGEOM_SPHERE, (GLASS_R, 0, 0), GLASS_RGBA, pos=(0, 0, GLASS_Z),
                 name=f"{name}_glass", mass=0.03, friction=(1.2, 0.02, 0.002)))
    return b


def add_bulb_holder(scene, name: str):
    """A bulb stand (fixed body, origin on the table): a pedestal with a cup ring on top; a bulb
    standing in it has its origin HOLDER_H above the table. Recolour geoms `{name}_pedestal`
    and `{name}_cup{k}` (k < HOLDER_SEGMENTS) together. Returns the body."""
    S = scene
    h = S.body(name)
    S.cylinder(h, HOLDER_R, HOLDER_H / 2, pos=(0, 0, HOLDER_H / 2), name=f"{name}_pedestal")
    r = CUP_IN_R + CUP_T / 2
    seg = 2 * r * np.tan(np.pi / HOLDER_SEGMENTS) + 0.001
    for k in range(HOLDER_SEGMENTS):
        a = 2 * np.pi * k / HOLDER_SEGMENTS
        S.box(h, (CUP_T / 2, seg / 2, CUP_H / 2), pos=(r * np.cos(a), r * np.sin(a),
                                                        HOLDER_H + CUP_H / 2),
              quat_wxyz=yaw_quat_wxyz(a), name=f"{name}_cup{k}")
    return h


def holder_geoms(name: str) -> list[str]:
    return [f"{name}_pedestal"] + [f"{name}_cup{k}" for k in range(HOLDER_SEGMENTS)]
