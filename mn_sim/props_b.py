"""Props for slide_block_to_color_target, reach_and_drag and push_buttons (simple shapes)."""
from __future__ import annotations

import mujoco

RED = (1.0, 0.0, 0.0, 1.0)
GREEN = (0.0, 1.0, 0.0, 1.0)
BUTTON_TRAVEL = 0.012        # how far a plunger can go down (m)
BUTTON_PRESSED = 0.003       # RLBench's JointCondition threshold for a pushed button (m)
TARGET_THICKNESS = 0.001     # flat target squares lie on the table, 1 mm thick


def add_flat_target(scene, parent, name: str, half: float, rgba, pos=(0.0, 0.0)):
    """A flat coloured square on the table (visual only: blocks slide over it freely).

    Geom `{name}`, site `{name}` at the square's centre on the table surface. Give the final
    `pos` here: a site built at its body's origin is fused with the body frame by MuJoCo's
    compiler and can no longer be moved through model.site_pos."""
    z = TARGET_THICKNESS / 2
    scene.box(parent, (half, half, z), rgba, pos=(pos[0], pos[1], z), name=name,
              contype=0, conaffinity=0)
    scene.site(parent, name, pos=(pos[0], pos[1], 0.0))


def add_free_box(scene, name: str, half_sizes, rgba, mass: float, friction: float):
    """A free box whose own friction rules its contacts (priority 1 beats the table's 1.0).

    Body and geom `{name}`; the body origin is the box centre."""
    body = scene.body(name, pos=(0.0, 0.0, 0.0), free=True)
    g = scene.box(body, half_sizes, rgba, name=name, mass=mass,
                  friction=(friction, 0.005, 0.0001))
    g.priority = 1
    g.condim = 4           # torsional friction too: pushed blocks don't spin on a point contact
    return body


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
