"""Stiff contacts for what the gripper takes (graspable geoms): one helper, two settings.

MuJoCo's default contact (solref 0.02 s, solimp up to 0.95) lets the Panda's fingers, closing
fast and squeezing with up to 80 N, sink a centimetre or more into what they hold and tip a
light object over. A graspable geom gets a stiff contact that wins over the fingers' own:

- ``STIFF`` (props): a 5 ms time constant with a hard solimp, winning by priority: < 1 mm
  while held, ~2.5 mm at the moment the fingers hit, and torsional friction (condim 4) so a
  held object does not pivot about the fingers' axis.
- ``STIFF_BY_MIX`` (the money, the meat and the drawer item): a 4 ms time constant that wins by
  dominating the solref mix (solmix) and leaves the geom's solimp, priority and condim as they
  are: < 1 mm of sinking.

Both are kept as they are so that no task's physics changes.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StiffContact:
    """Contact parameters set on a geom; None leaves the geom's own value."""
    solref: tuple[float, float]
    solimp: tuple[float, float, float, float, float] | None = None
    solmix: float | None = None
    priority: int | None = None
    condim: int | None = None


STIFF = StiffContact(solref=(0.005, 1.0), solimp=(0.95, 0.99, 0.001, 0.5, 2.0), priority=1,
                     condim=4)
STIFF_BY_MIX = StiffContact(solref=(0.004, 1.0), solmix=1000.0)


def stiff(geom, setting: StiffContact = STIFF, priority: int | None = None):
    """Give a geom (an mjsGeom of the scene being built) a stiff contact; returns it.
    `priority` overrides the setting's (e.g. 2 for a part that must win over another stiff
    part)."""
    geom.solref = list(setting.solref)
    if setting.solimp is not None:
        geom.solimp = list(setting.solimp)
    if setting.solmix is not None:
        geom.solmix = setting.solmix
    if priority is not None or setting.priority is not None:
        geom.priority = setting.priority if priority is None else priority
    if setting.condim is not None:
        geom.condim = setting.condim
    return geom
