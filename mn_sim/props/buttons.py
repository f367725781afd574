"""Push buttons on springs (push_buttons)."""
from __future__ import annotations

import mujoco

RED = (1.0, 0.0, 0.0, 1.0)
GREEN = (0.0, 1.0, 0.0, 1.0)
BUTTON_TRAVEL = 0.012        # how far a plunger can go down (m)
BUTTON_PRESSED = 0.003       # RLBench's JointCondition threshold for a pushed button (m)


def add_push_button(scene, name: str, base_half: float = 0.035, base_h: float = 0.02,
                    plunger_r: float = 0.02, plunger_h: float = 0.012):
    """A push button: a square coloured base with a red rim and a red plunger on a spring.

    The plunger slides on joint `{name}_joint` (0 = up, positive = pushed down, up to
    BUTTON_TRAVEL); a preloaded spring pushes it back up. Geoms: `{name}_base` (the colour
    that names the button), `{name}_wrap` (rim) and `{name}_plate` (plunger top). Site
    `{name}_top` marks the plunger's top face at rest. Returns the body (origin on the table)."""
    body = scene.body(name)
    scene.box(body, (base_half, base_half, base_h / 2), (0.5, 0.5, 0.5, 1),
              pos=(0, 0, base_h / 2), name=f"{name}_base")
    rim_h = 0.004
    scene.cylinder(body, plunger_r + 0.006, rim_h / 2, RED, pos=(0, 0, base_h + rim_h / 2),
                   name=f"{name}_wrap")
    # the plunger sits in a pocket of the rim: its top stands plunger_h above the base
    p = scene.body(f"{name}_plunger", pos=(0, 0, base_h + plunger_h / 2), parent=body)
    p.add_joint(name=f"{name}_joint", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[0, 0, -1],
                range=[0.0, BUTTON_TRAVEL], stiffness=[150.0, 0.0, 0.0], springref=-0.015,
                damping=[2.0, 0.0, 0.0], armature=0.01, solref_limit=[0.004, 1.0])
    scene.cylinder(p, plunger_r, plunger_h / 2, RED, name=f"{name}_plate", mass=0.02)
    # the base is welded to the world, so MuJoCo's parent filter would not separate them
    scene.spec.add_exclude(bodyname1=name, bodyname2=f"{name}_plunger")
    scene.site(body, f"{name}_top", pos=(0, 0, base_h + plunger_h))
    return body
