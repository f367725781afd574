"""A table-top barbecue with coals and a grate (meat_off_grill).

The body origin sits on the table top at the centre of the footprint."""
from __future__ import annotations

GRILL_BLACK = (0.08, 0.08, 0.08, 1.0)
GRATE = (0.3, 0.3, 0.3, 1.0)
COALS = (0.55, 0.12, 0.05, 1.0)

# grill geometry (metres)
GRILL_LEN, GRILL_WID, GRILL_H = 0.32, 0.24, 0.09   # firebox footprint and height
GRATE_BAR = 0.004                                   # grate bar half height
GRILL_TOP = GRILL_H + 2 * GRATE_BAR                 # what food rests on, above the table


def add_grill(scene, name: str = "grill"):
    """A table-top barbecue: a black firebox with glowing coals and a grate of bars on top.

    Food resting on the grate has its bottom GRILL_TOP above the table. Returns the body."""
    S = scene
    L, W = GRILL_LEN / 2, GRILL_WID / 2
    t = 0.01
    g = S.body(name)
    S.box(g, (L, W, 0.01), GRILL_BLACK, pos=(0, 0, 0.01))                         # floor
    for s in (-1, 1):
        S.box(g, (L, t / 2, GRILL_H / 2), GRILL_BLACK, pos=(0, s * (W - t / 2), GRILL_H / 2))
        S.box(g, (t / 2, W, GRILL_H / 2), GRILL_BLACK, pos=(s * (L - t / 2), 0, GRILL_H / 2))
    S.box(g, (L - t, W - t, 0.01), COALS, pos=(0, 0, GRILL_H - 0.035), contype=0,
          conaffinity=0)
    n = 11
    for i in range(n):   # bars along x
        y = -W + t + (2 * W - 2 * t) * (i + 0.5) / n
        S.box(g, (L - t / 2, 0.004, GRATE_BAR), GRATE, pos=(0, y, GRILL_H + GRATE_BAR))
    for s in (-1, 1):    # two cross bars along y, below the others
        S.box(g, (0.004, W - t / 2, 0.003), GRATE, pos=(s * L * 0.6, 0, GRILL_H + 0.001),
              contype=0, conaffinity=0)
    for s in (-1, 1):    # side handles
        S.box(g, (0.01, 0.04, 0.008), GRILL_BLACK, pos=(0, s * (W + 0.02), GRILL_H - 0.02))
    return g
