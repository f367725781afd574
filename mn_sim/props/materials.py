"""Contact settings shared by props that the gripper takes (graspable objects)."""
from __future__ import annotations

def stiffen(geom):
    """Stiff contacts for a graspable geom: with MuJoCo's default solref (0.02 s) the Panda's
    fingers, closing fast at up to 80 N, sink a centimetre or more into a light object and
    can tip it over; a 4 ms time constant that dominates the mix keeps that under 1 mm."""
    geom.solref = [0.004, 1.0]
    geom.solmix = 1000.0
    return geom


# MuJoCo's default contact (solref 0.02 s, solimp up to 0.95) lets the Panda's fingers,
# squeezing with 80 N, sink centimetres into what they hold. Things the gripper takes get a
# stiff contact that wins over the fingers' (higher priority): < 1 mm while held, ~2.5 mm at the
# moment the fingers hit, and torsional friction (condim 4) so a held object does not pivot
# about the fingers' axis.
STIFF_SOLREF = (0.005, 1.0)
STIFF_SOLIMP = (0.95, 0.99, 0.001, 0.5, 2.0)


def stiff(geom, priority: int = 1):
    """Give a geom the stiff contact above (returns it)."""
    geom.solref = list(STIFF_SOLREF)
    geom.solimp = list(STIFF_SOLIMP)
    geom.priority = priority
    geom.condim = 4
    return geom
