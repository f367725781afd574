"""A shape sorter (place_shape_in_shape_sorter): a closed box whose lid has one hole per shape of
mn_sim.props.shapes, each hole the shape's footprint grown by HOLE_CLEARANCE all round (the
cylinder's: a 24-gon that clear of its corners). The shapes' sizes are chosen so that each
passes through its own hole only.

MuJoCo cannot subtract one solid from another, so the lid is built from pieces: the lid is a
grid of square cells (front row of three, back row of two between blank fillers) inside a
rim, and each cell is its square minus the hole, cut into convex prisms. For a hole that is
star-shaped about the cell centre (square, round, cut triangle, star) every hole edge gets one
piece, the region swept from that edge outwards to the cell's border along rays from the centre
(edges are split at the rays through the cell's corners, so each piece is convex). The moon's
hole is a disc minus the bite the moon has taken out of it: the ring around the disc is cut like
the others and the bite is one more convex piece (a lens) standing in the hole. The lid pieces
are smooth (LID_FRICTION): a shape let go a little off centre slides down its hole's edge
instead of wedging in it.

Frame: origin on the table at the centre of the footprint, the robot's side at -x. Site
`{name}_inside` is the centre of the box's hollow inside; SORTER_INSIDE its half extents. Site
`{name}_hole_{shape}` (shape with '_' for ' ') is the centre of each hole on the lid's top
surface; HOLE_YAW[shape] is the angle the shape's own frame must be turned by (about z, in
the sorter frame) to pass.
"""
from __future__ import annotations

import numpy as np

from mn_sim.props.shapes import (MOON_D, MOON_R, MOON_r, SHAPE_NAMES, add_prism_mesh,
                                 body_name, cube_polygon, cylinder_polygon, star_polygon,
                                 triangle_polygon)

HOLE_CLEARANCE = 0.0035         # gap between a shape and the edge of its hole, all round
CELL = 0.040                    # half size of a lid cell
SORTER_H = 0.07                 # height of the lid's top surface above the table
LID_T = 0.01                    # lid thickness
WALL_T = 0.008                  # side wall thickness
BORDER = 0.015                  # lid rim around the cells (keeps the holes off the walls)
HALF_X, HALF_Y = 2 * CELL + BORDER, 3 * CELL + BORDER   # outer half extents of the box
SORTER_RGBA = (0.93, 0.86, 0.62, 1.0)    # light wood
LID_RGBA = (0.55, 0.38, 0.22, 1.0)       # darker lid, so the holes stand out
LID_FRICTION = (0.3, 0.005, 0.0001)      # a smooth lid: a shape slides down its hole's edge
SORTER_INSIDE = (HALF_X - WALL_T, HALF_Y - WALL_T, (SORTER_H - LID_T) / 2)

# hole centres (x, y) in the sorter frame and the turn of each shape in its hole
HOLE_XY = {"cube": (-CELL, -2 * CELL), "star": (-CELL, 0.0), "cylinder": (-CELL, 2 * CELL),
           "moon": (CELL, -CELL), "triangular prism": (CELL, CELL)}
HOLE_YAW = {"cube": 0.0, "cylinder": 0.0, "triangular prism": 0.0, "star": np.pi / 2,
            "moon": np.pi / 2}


def _rot(poly, yaw):
    c, s = np.cos(yaw), np.sin(yaw)
    return np.asarray(poly) @ np.array([[c, s], [-s, c]])


def grow_polygon(poly, d: float, arc_step: float = np.deg2rad(30.0)) -> np.ndarray:
    """The polygon (counter-clockwise) grown by d: every point within d of it (round corners at
    convex vertices, mitred ones at reflex vertices)."""
    poly = np.asarray(poly, float)
    n = len(poly)
    out = []
    for i in range(n):
        a, v, b = poly[i - 1], poly[i], poly[(i + 1) % n]
        e0, e1 = v - a, b - v
        n0 = np.array([e0[1], -e0[0]]) / np.linalg.norm(e0)   # outward normals (CCW polygon)
        n1 = np.array([e1[1], -e1[0]]) / np.linalg.norm(e1)
        if e0[0] * e1[1] - e0[1] * e1[0] >= 0:      # convex corner: arc from n0 to n1
            t0, t1 = np.arctan2(n0[1], n0[0]), np.arctan2(n1[1], n1[0])
            dt = (t1 - t0) % (2 * np.pi)
            k = max(1, int(np.ceil(dt / arc_step)))
            for j in range(k + 1):
                t = t0 + dt * j / k
                out.append(v + d * np.array([np.cos(t), np.sin(t)]))
        else:                                        # reflex corner: the offset lines meet
            out.append(v + d * (n0 + n1) / (1.0 + float(n0 @ n1)))
    return np.array(out)


def ring_pieces(hole, half: float) -> list[np.ndarray]:
    """Convex polygons covering the square [-half, half]^2 minus `hole` (counter-clockwise,
    star-shaped about the origin)."""
    hole = np.asarray(hole, float)
    n = len(hole)
    # each edge must face away from the origin (the origin sees the whole hole)
    for i in range(n):
        a, b = hole[i], hole[(i + 1) % n]
        assert a[0] * b[1] - a[1] * b[0] > 0, "hole is not star-shaped about its centre"
    corners = [np.array([np.cos(t), np.sin(t)]) for t in np.deg2rad([45, 135, 225, 315])]
    pts = []
    for i in range(n):
        a, b = hole[i], hole[(i + 1) % n]
        pts.append(a)
        ta = np.arctan2(a[1], a[0])
        span = (np.arctan2(b[1], b[0]) - ta) % (2 * np.pi)
        splits = []
        for c in corners:
            tc = (np.arctan2(c[1], c[0]) - ta) % (2 * np.pi)
            if 1e-9 < tc < span - 1e-9:
                e = b - a
                t = -(c[0] * a[1] - c[1] * a[0]) / (c[0] * e[1] - c[1] * e[0])
                splits.append((tc, a + t * e))
        pts.extend(p for _, p in sorted(splits, key=lambda s: s[0]))

    def to_border(p):
        return p * half / np.max(np.abs(p))

    pieces = []
    for i in range(len(pts)):
        a, b = pts[i], pts[(i + 1) % len(pts)]
        pieces.append(np.array([a, b, to_border(b), to_border(a)]))
    return pieces


def moon_hole_pieces(half: float, d: float) -> list[np.ndarray]:
    """Cell minus the moon's hole (horns along +x): the ring outside a 24-gon around the
    moon's outer disc, and the lens where the moon's bite (shrunk by d) overlaps that disc."""
    disc = cylinder_like(MOON_R + d, 24)
    pieces = ring_pieces(disc, half)
    t = np.linspace(-np.pi, np.pi, 73)
    bite = np.stack([MOON_D + (MOON_r - d) * np.cos(t), (MOON_r - d) * np.sin(t)], 1)
    lens = bite[np.linalg.norm(bite, axis=1) <= MOON_R + d]
    pieces.append(lens)
    return pieces


def cylinder_like(apothem: float, n: int) -> np.ndarray:
    r = apothem / np.cos(np.pi / n)
    a = np.pi / n + 2 * np.pi * np.arange(n) / n
    return np.stack([r * np.cos(a), r * np.sin(a)], 1)


def hole_polygon(shape: str) -> np.ndarray:
    """The hole of a star-shaped footprint, in its cell's frame (turned by HOLE_YAW)."""
    if shape == "cylinder":      # round hole: 24-gon around the 16-gon's corners
        poly = cylinder_like(float(np.max(np.linalg.norm(cylinder_polygon(), axis=1)))
                             + HOLE_CLEARANCE, 24)
    else:
        poly = grow_polygon({"cube": cube_polygon, "triangular prism": triangle_polygon,
                             "star": star_polygon}[shape](), HOLE_CLEARANCE)
    return _rot(poly, HOLE_YAW[shape])


def cell_pieces(shape: str) -> list[np.ndarray]:
    if shape == "moon":
        return [_rot(p, HOLE_YAW[shape]) for p in moon_hole_pieces(CELL, HOLE_CLEARANCE)]
    return ring_pieces(hole_polygon(shape), CELL)


def add_shape_sorter(scene, name: str = "shape_sorter"):
    """The sorter (fixed body `name`; move it with Sim.set_body_pose). Returns the body."""
    S = scene
    b = S.body(name)
    z_lid = SORTER_H - LID_T / 2
    wall_h = (SORTER_H - LID_T) / 2
    for sx in (-1, 1):   # front and back walls
        S.box(b, (WALL_T / 2, HALF_Y, wall_h), SORTER_RGBA,
              pos=(sx * (HALF_X - WALL_T / 2), 0, wall_h), name=f"{name}_wall_x{sx:+d}")
    for sy in (-1, 1):   # side walls
        S.box(b, (HALF_X - WALL_T, WALL_T / 2, wall_h), SORTER_RGBA,
              pos=(0, sy * (HALF_Y - WALL_T / 2), wall_h), name=f"{name}_wall_y{sy:+d}")
    # the rim around the cells
    for sx in (-1, 1):
        S.box(b, (BORDER / 2, HALF_Y, LID_T / 2), LID_RGBA,
              pos=(sx * (HALF_X - BORDER / 2), 0, z_lid), name=f"{name}_lid_rim_x{sx:+d}")
    for sy in (-1, 1):
        S.box(b, (2 * CELL, BORDER / 2, LID_T / 2), LID_RGBA,
              pos=(0, sy * (HALF_Y - BORDER / 2), z_lid), name=f"{name}_lid_rim_y{sy:+d}")
    # blank cells at the back corners
    for sy in (-1, 1):
        S.box(b, (CELL, CELL / 2, LID_T / 2), LID_RGBA,
              pos=(CELL, sy * 2.5 * CELL, z_lid), name=f"{name}_lid_blank{sy:+d}")
    for shape in SHAPE_NAMES:
        cx, cy = HOLE_XY[shape]
        tag = body_name(shape)
        for i, piece in enumerate(cell_pieces(shape)):
            g = add_prism_mesh(S, b, f"{name}_lid_{tag}_{i}", piece + np.array([cx, cy]),
                               SORTER_H - LID_T, SORTER_H, LID_RGBA)
            g.friction = list(LID_FRICTION)
            g.priority = 2        # its friction rules its contacts with the (priority 1) shapes
        S.site(b, f"{name}_hole_{tag}", pos=(cx, cy, SORTER_H))
    S.site(b, f"{name}_inside", pos=(0, 0, SORTER_INSIDE[2]))
    return b
