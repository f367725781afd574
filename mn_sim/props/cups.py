"""Open-top tapered cups that nest inside each other (stack_cups).

A cup is a free body whose origin is the centre of its base (on the table when it stands
there): a polygonal floor plus a ring of CUP_SEGMENTS wall pieces, each piece one convex
prism (a slice of the tapered wall), so the fingers can pinch the wall between them, one
finger inside the cup and one outside. All cups have the same shape: the wall leans outwards,
so a cup dropped into another slides down until it rests, NEST_STEP above the one below.

It rests on four stacking lugs, as real stacking cups do: narrow ribs on the inside of the
wall on the faces at 45, 135, 225 and 315 degrees (in the cup's frame), LUG_DEPTH deep at their
lower end and running out to nothing at their upper end (a ramp: nothing dropped in catches on
them), so a nested cup's wall touches only the lower ends of the four lugs and stays clear of
the rest of the wall. (Resting face to face on the whole wall made ~100 contacts per nested
pair, which slowed the physics ~20-fold.) The faces at 0, 90, 180 and 270 degrees (GRASP_FACES)
have no lug: pinch the wall there.
"""
from __future__ import annotations

import mujoco
import numpy as np

from mn_sim.props.materials import stiff

CUP_H = 0.08                       # height of the rim above the base
CUP_R_BOTTOM, CUP_R_TOP = 0.03, 0.04   # outer radius (apothem of the polygon) at base and rim
CUP_WALL = 0.004                   # horizontal wall thickness
CUP_FLOOR = 0.004                  # floor thickness
CUP_SEGMENTS = 16
CUP_TAPER = (CUP_R_TOP - CUP_R_BOTTOM) / CUP_H   # radius gained per metre of height
# the wall starts a little above the base: standing, a cup touches the table with its floor only
# (16 wall pieces on the table would add ~4 contacts each for nothing)
WALL_BASE = 0.002
LUG_DEPTH, LUG_HALF_WIDTH = 0.0015, 0.004   # lugs: how far they stand out of the wall, half width
LUG_Z = (0.052, 0.075)             # lugs: lower and upper end above the base
LUG_FACES = (2, 6, 10, 14)         # wall faces (of CUP_SEGMENTS) carrying a lug
GRASP_FACES = (0, 4, 8, 12)        # wall faces clear of the lugs, to pinch
NEST_STEP = (CUP_WALL + LUG_DEPTH) / CUP_TAPER   # a nested cup's base sits this far higher
CUP_FRICTION = (0.4, 0.01, 0.001)
CUP_MASS = 0.08


def cup_outer_radius(z: float) -> float:
    """Outer radius (apothem) of the wall at height z above the base."""
    return CUP_R_BOTTOM + CUP_TAPER * z


def cup_geom_names(name: str) -> list[str]:
    """The geoms of cup `name` (recolour all of them)."""
    return ([f"{name}_floor"] + [f"{name}_wall{k}" for k in range(CUP_SEGMENTS)]
            + [f"{name}_lug{k}" for k in LUG_FACES])


def face_angle(k: int) -> float:
    """Direction (in the cup's frame) of wall face k's outward normal."""
    return 2 * np.pi * k / CUP_SEGMENTS


def _slab(face: int, depth0, depth1, half_w, z0, z1, depth1_top=None):
    """Vertices of a convex piece on wall face `face`: between `depth0` and `depth1` (distances
    inward from the outer surface, which leans with the taper; `depth1_top`: depth1 at the top,
    if different), `half_w` to either side of the face's centre line (None: to the polygon's
    corners, which tapers with the radius), from height z0 to z1."""
    a = face_angle(face)
    c, s = np.cos(a), np.sin(a)
    verts = []
    for z, d1 in ((z0, depth1), (z1, depth1 if depth1_top is None else depth1_top)):
        r_out = cup_outer_radius(z)
        for d in (depth0, d1):
            r = r_out - d
            w = r * np.tan(np.pi / CUP_SEGMENTS) if half_w is None else half_w
            for t in (-w, w):
                verts.append((r * c - t * s, r * s + t * c, z))
    return verts


def _mesh_geom(scene, body, name: str, verts, rgba, mass: float):
    scene.spec.add_mesh(name=f"{name}_mesh", uservert=list(np.ravel(verts)))
    g = body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"{name}_mesh",
                      rgba=list(rgba), name=name)
    g.mass = mass
    g.friction = list(CUP_FRICTION)
    return stiff(g)


def add_cup(scene, name: str, rgba=(0.6, 0.6, 0.6, 1.0), pos=(0.0, 0.0, 0.0)):
    """A cup (free body, origin at the centre of its base). Geoms `cup_geom_names(name)`;
    site `{name}_inside` sits on the cup's axis half way up. `pos` is where the cup stands in
    the model's default pose (cups that overlap there cost a flood of contacts). Returns the
    body."""
    S = scene
    cup = S.body(name, pos=pos, free=True)
    for k in range(CUP_SEGMENTS):
        _mesh_geom(S, cup, f"{name}_wall{k}", _slab(k, 0.0, CUP_WALL, None, WALL_BASE, CUP_H),
                   rgba, 0.75 * CUP_MASS / CUP_SEGMENTS)
    for k in LUG_FACES:   # reaching 1 mm into the wall, so no seam
        _mesh_geom(S, cup, f"{name}_lug{k}",
                   _slab(k, CUP_WALL - 0.001, CUP_WALL + LUG_DEPTH, LUG_HALF_WIDTH, *LUG_Z,
                         depth1_top=CUP_WALL),
                   rgba, 0.002)
    # the floor: a polygon as wide as the wall's base (it overlaps the wall's lowest part)
    corner = CUP_R_BOTTOM / np.cos(np.pi / CUP_SEGMENTS)
    angles = face_angle(np.arange(CUP_SEGMENTS) + 0.5)
    floor = [(corner * np.cos(a), corner * np.sin(a), z) for z in (0.0, CUP_FLOOR) for a in angles]
    _mesh_geom(S, cup, f"{name}_floor", floor, rgba, 0.25 * CUP_MASS - 0.008)
    S.site(cup, f"{name}_inside", pos=(0, 0, CUP_H / 2))
    return cup
