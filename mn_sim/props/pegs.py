"""Square pegs: a base with three square spokes standing in a row, and a square ring that fits
over one of them (insert_onto_square_peg).

The base's origin sits on the table top at the centre of its footprint; the spokes stand in a
row along the base's y axis. The ring is a free body with its origin at its centre."""
from __future__ import annotations

from mn_sim.props.materials import stiff

BASE_WOOD = (0.42, 0.32, 0.22, 1.0)
RING_RGBA = (0.86, 0.78, 0.58, 1.0)

# spokes (metres)
SPOKE_HALF = 0.02          # a spoke's square section is 4 cm across
SPOKE_H = 0.08             # height of a spoke above the plate
SPOKE_SPACING = 0.11       # between the axes of neighbouring spokes
PLATE_HALF = (0.05, 0.165, 0.006)          # the base plate's half sizes
PLATE_TOP = 2 * PLATE_HALF[2]              # plate surface above the table
SPOKE_TOP = PLATE_TOP + SPOKE_H            # a spoke's top above the table
N_SPOKES = 3

# the ring: a square frame, 3 cm tall, whose hole leaves CLEARANCE on every side of a spoke
CLEARANCE = 0.0045
RING_HOLE_HALF = SPOKE_HALF + CLEARANCE    # half width of the hole
RING_WALL = 0.012                          # width of each side of the frame
RING_HALF_H = 0.015                        # half height
RING_OUTER_HALF = RING_HOLE_HALF + RING_WALL


def spoke_y(k: int) -> float:
    """y of spoke k's axis in the base frame (k = 0, 1, 2)."""
    return (k - (N_SPOKES - 1) / 2) * SPOKE_SPACING


def add_spoke_base(scene, name: str = "spokes"):
    """A wooden plate with three square spokes (geoms `{name}_spoke{k}`, recolour them).

    Site `{name}_spoke{k}_low` sits on spoke k's axis a quarter of the spoke's height above the
    plate: the lower half of the spoke, where a ring that was put on it comes to rest. The spokes are
    smooth (low friction, priority over the ring) so a ring slides down them. Returns the body."""
    S = scene
    base = S.body(name)
    S.box(base, PLATE_HALF, BASE_WOOD, pos=(0, 0, PLATE_HALF[2]), name=f"{name}_plate")
    for k in range(N_SPOKES):
        y = spoke_y(k)
        g = S.box(base, (SPOKE_HALF, SPOKE_HALF, SPOKE_H / 2), (0.5, 0.5, 0.5, 1.0),
                  pos=(0, y, PLATE_TOP + SPOKE_H / 2), name=f"{name}_spoke{k}",
                  friction=(0.3, 0.005, 0.0001))
        g.priority = 2
        S.site(base, f"{name}_spoke{k}_low", pos=(0, y, PLATE_TOP + SPOKE_H / 4))
    return base


def add_square_ring(scene, name: str = "square_ring", rgba=RING_RGBA):
    """A square frame of four bars around a square hole (free body, origin at its centre).

    Bars `{name}_side{k}`: 0 and 1 lie along the body's x axis at -y and +y, 2 and 3 along its
    y axis at -x and +x. The fingers take it by one side, one finger in the hole. Returns the
    body."""
    S = scene
    ring = S.body(name, free=True)
    mid = RING_HOLE_HALF + RING_WALL / 2
    sides = [((RING_OUTER_HALF, RING_WALL / 2, RING_HALF_H), (0, -mid, 0)),
             ((RING_OUTER_HALF, RING_WALL / 2, RING_HALF_H), (0, mid, 0)),
             ((RING_WALL / 2, RING_HOLE_HALF, RING_HALF_H), (-mid, 0, 0)),
             ((RING_WALL / 2, RING_HOLE_HALF, RING_HALF_H), (mid, 0, 0))]
    for k, (half, pos) in enumerate(sides):
        stiff(S.box(ring, half, rgba, pos=pos, name=f"{name}_side{k}", mass=0.015,
                    friction=(1.0, 0.01, 0.001)))
    return ring
