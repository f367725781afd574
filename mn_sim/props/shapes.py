"""Shape-sorter pieces (place_shape_in_shape_sorter): a cube, a cylinder, a triangular prism, a
star and a moon, each a free body made of convex prisms, standing on its flat face.

Every shape is a prism of height SHAPE_H over a polygon (its footprint) given in the body frame;
the body origin is the centre of the footprint (the moon's: the centre of its disc) at
mid-height. The footprints are also what the sorter (mn_sim.props.shape_sorter) cuts its holes
from. Non-convex footprints (star, moon) are unions of convex pieces in one body.

Grasping: each shape is pinched from above with the fingers closing along GRASP_AXIS (an angle
in the shape's frame): across the cube's faces, two of the cylinder's sixteen flats, a face of
the triangle and the flat cut off the corner opposite it, the star from one tip into the notch
opposite it (the pad's edges rest on the notch's two sides), the moon across its back (outer
rim against the inside of the bite). GRASP_SYMMETRY is the period of equivalent closing axes;
ROT_SYMMETRY the shape's rotational symmetry (for lining it up with its hole).
"""
from __future__ import annotations

import mujoco
import numpy as np

from mn_sim.props.materials import stiff

SHAPE_NAMES = ("cube", "cylinder", "triangular prism", "star", "moon")   # RLBench's order
SHAPE_H = 0.05                  # height of every shape (m)
SHAPE_MASS = 0.06
SHAPE_FRICTION = (1.0, 0.01, 0.001)
SHAPE_RGBA = {
    "cube": (0.85, 0.12, 0.12, 1.0),              # red
    "cylinder": (0.1, 0.3, 0.9, 1.0),             # blue
    "triangular prism": (0.1, 0.7, 0.2, 1.0),     # green
    "star": (0.95, 0.8, 0.05, 1.0),               # yellow
    "moon": (0.6, 0.15, 0.75, 1.0),               # purple
}

CUBE_HALF = 0.0225              # 4.5 cm cube
CYL_APOTHEM, CYL_SIDES = 0.027, 16
TRI_RADIUS, TRI_CUT = 0.039, 0.008   # triangle circumradius; length cut off each corner
STAR_R, STAR_r = 0.0325, 0.0145      # tip and inner radius
MOON_R, MOON_r, MOON_D = 0.0325, 0.0262, 0.020   # outer radius; bite radius and its offset (+x)

GRASP_AXIS = {"cube": 0.0, "cylinder": 0.0, "triangular prism": np.pi / 2, "star": 0.0,
              "moon": 0.0}
GRASP_SYMMETRY = {"cube": np.pi / 2, "cylinder": np.pi / CYL_SIDES,
                  "triangular prism": np.pi / 3, "star": np.pi / 5, "moon": np.pi}
ROT_SYMMETRY = {"cube": np.pi / 2, "cylinder": 2 * np.pi / CYL_SIDES,
                "triangular prism": 2 * np.pi / 3, "star": 2 * np.pi / 5, "moon": 2 * np.pi}


def body_name(shape: str) -> str:
    return shape.replace(" ", "_")


def _ngon(apothem: float, n: int, phase: float) -> np.ndarray:
    r = apothem / np.cos(np.pi / n)
    a = phase + 2 * np.pi * np.arange(n) / n
    return np.stack([r * np.cos(a), r * np.sin(a)], 1)


def cube_polygon() -> np.ndarray:
    h = CUBE_HALF
    return np.array([[h, -h], [h, h], [-h, h], [-h, -h]])


def cylinder_polygon() -> np.ndarray:
    """Sixteen-sided (flats facing 0, 22.5, ... deg: the fingers pinch two flats)."""
    return _ngon(CYL_APOTHEM, CYL_SIDES, np.pi / CYL_SIDES)


def triangle_polygon() -> np.ndarray:
    """Equilateral triangle (corners at 90, 210, 330 deg) with its corners cut flat, so each
    face has a short parallel flat opposite it."""
    corners = [TRI_RADIUS * np.array([np.cos(a), np.sin(a)])
               for a in np.deg2rad([90.0, 210.0, 330.0])]
    side = np.linalg.norm(corners[1] - corners[0])
    pts = []
    for i in range(3):
        c, prev, nxt = corners[i], corners[i - 1], corners[(i + 1) % 3]
        pts.append(c + (prev - c) * TRI_CUT / side)
        pts.append(c + (nxt - c) * TRI_CUT / side)
    return np.array(pts)


def star_polygon() -> np.ndarray:
    """Five-pointed star, a tip along +x (tips at k*72 deg, inner corners in between)."""
    pts = []
    for k in range(5):
        a = 2 * np.pi * k / 5
        pts.append([STAR_R * np.cos(a), STAR_R * np.sin(a)])
        pts.append([STAR_r * np.cos(a + np.pi / 5), STAR_r * np.sin(a + np.pi / 5)])
    return np.array(pts)


def moon_horn_angles() -> tuple[float, float]:
    """Angles of the horn tips about the outer centre and about the bite's centre."""
    x = (MOON_R ** 2 - MOON_r ** 2 + MOON_D ** 2) / (2 * MOON_D)
    y = np.sqrt(MOON_R ** 2 - x ** 2)
    return float(np.arctan2(y, x)), float(np.arctan2(y, x - MOON_D))


def moon_arcs(n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Crescent (a disc of MOON_R with a disc of MOON_r bitten out at +x, horns towards +x):
    matching points along its outer and inner arcs, horn tip to horn tip."""
    ph, qh = moon_horn_angles()
    t = np.linspace(0.0, 1.0, n + 1)
    a = ph + t * (2 * np.pi - 2 * ph)
    b = qh + t * (2 * np.pi - 2 * qh)
    outer = np.stack([MOON_R * np.cos(a), MOON_R * np.sin(a)], 1)
    inner = np.stack([MOON_D + MOON_r * np.cos(b), MOON_r * np.sin(b)], 1)
    return outer, inner


def moon_pieces() -> list[np.ndarray]:
    outer, inner = moon_arcs()
    pieces = []
    for j in range(len(outer) - 1):
        quad = [outer[j], outer[j + 1], inner[j + 1], inner[j]]
        pieces.append(np.array([p for i, p in enumerate(quad)
                                if np.linalg.norm(p - quad[i - 1]) > 1e-6]))
    return pieces


def star_pieces() -> list[np.ndarray]:
    poly = star_polygon()
    return [np.array([[0.0, 0.0], poly[2 * k - 1], poly[2 * k], poly[2 * k + 1]])
            for k in range(5)]


FOOTPRINTS = {"cube": cube_polygon, "cylinder": cylinder_polygon,
              "triangular prism": triangle_polygon, "star": star_polygon}


def convex_pieces(shape: str) -> list[np.ndarray]:
    """The shape's footprint as convex polygons (their union is the footprint)."""
    if shape == "star":
        return star_pieces()
    if shape == "moon":
        return moon_pieces()
    return [FOOTPRINTS[shape]()]


def add_prism_mesh(scene, body, name: str, polygon, z0: float, z1: float, rgba, **attrs):
    """A convex prism geom over a 2-D polygon (body frame) from height z0 to z1. MuJoCo keeps
    a mesh geom where its vertices say it is (the mesh frame is the body frame here)."""
    verts = [(x, y, z) for z in (z0, z1) for x, y in np.asarray(polygon)]
    scene.spec.add_mesh(name=f"{name}_mesh", uservert=list(np.ravel(verts)))
    g = body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"{name}_mesh",
                      rgba=list(rgba), name=name)
    for k, v in attrs.items():
        setattr(g, k, v)
    return g


def add_shape(scene, shape: str):
    """The shape as a free body named body_name(shape), geoms `{body}_{i}` (recolour all)."""
    name = body_name(shape)
    b = scene.body(name, free=True)
    rgba = SHAPE_RGBA[shape]
    pieces = convex_pieces(shape)
    for i, poly in enumerate(pieces):
        if shape == "cube":
            g = scene.box(b, (CUBE_HALF, CUBE_HALF, SHAPE_H / 2), rgba, name=f"{name}_{i}")
        else:
            g = add_prism_mesh(scene, b, f"{name}_{i}", poly, -SHAPE_H / 2, SHAPE_H / 2, rgba)
        g.mass = SHAPE_MASS / len(pieces)
        g.friction = list(SHAPE_FRICTION)
        stiff(g)
    return b
