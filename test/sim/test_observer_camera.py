"""The observer camera shows what an episode changed (what the recognizer and people watch).

Each expert episode is rendered before and after from a camera with the robot drawn invisible,
so only the change in the scene counts. Every task's change must be in view; for tasks whose
variations differ only in *where* the change happens (which drawer, shelf, tap, slot,
dustpan), two variations played from the same seed must change different pixels.
RLBench's front camera fails this on the chest of drawers (it sees the drawers' backs)."""
import numpy as np
import pytest

from mn_sim.sheets import sheet_variations
from mn_sim.tasks.registry import task_names
from mn_sim.types import OBSERVER_CAMERA

SIZE, SEED = 96, 3
MIN_CHANGED = 25          # pixels (of 96x96) whose colour changed by more than DIFF
DIFF = 40                 # summed |RGB| difference
WHERE_TASKS = ("open_drawer", "put_item_in_drawer", "put_money_in_safe", "turn_tap",
               "place_wine_at_rack_location", "sweep_to_dustpan_of_size")
# push_buttons' buttons spring back up: its distinguishing change is the motion, not a state


@pytest.fixture(scope="module")
def env():
    from mn_sim.env import MNEnv
    e = MNEnv(cameras=("front",))
    yield e
    e.close()


def changed_pixels(env, task: str, variation: int, camera: str) -> np.ndarray:
    env.reset(seed=SEED, options={"task": task, "variation": variation, "render": False})
    before = env.sim.render_rgb(camera, SIZE, robot_alpha=0.0).astype(int)
    success = False
    for action in env.task.expert():
        _, _, terminated, truncated, info = env.step(action, render=False)
        if terminated or truncated:
            success = info["success"]
            break
    assert success, f"{task} variation {variation}: the expert failed on seed {SEED}"
    after = env.sim.render_rgb(camera, SIZE, robot_alpha=0.0).astype(int)
    return np.abs(after - before).sum(-1) > DIFF


def variations_of(env, task: str) -> list[int]:
    env.reset(seed=0, options={"task": task, "variation": 0, "render": False})
    return sheet_variations(env.task.variation_count(), 3)


def check_camera(env, task: str, camera: str) -> None:
    masks = {v: changed_pixels(env, task, v, camera) for v in variations_of(env, task)}
    for v, m in masks.items():
        assert m.sum() >= MIN_CHANGED, (
            f"{task} variation {v}: {camera} camera sees {m.sum()} changed pixels")
    if task in WHERE_TASKS:
        vs = sorted(masks)
        for i, a in enumerate(vs):
            for b in vs[i + 1:]:
                xor = int((masks[a] ^ masks[b]).sum())
                assert xor >= MIN_CHANGED, (
                    f"{task}: variations {a} and {b} change the same pixels of the {camera} "
                    f"camera ({xor} differ): which one happened is not visible")


@pytest.mark.slow
@pytest.mark.parametrize("task", [t for t in task_names() if t != "push_buttons"])
def test_observer_camera_sees_the_change_of_every_task(env, task):
    check_camera(env, task, OBSERVER_CAMERA)


@pytest.mark.slow
def test_the_front_camera_cannot_tell_the_drawers_apart(env):
    """Why the observer has its own camera (and that the check above can fail)."""
    with pytest.raises(AssertionError, match="open_drawer variation 0: front camera sees 0"):
        check_camera(env, "open_drawer", "front")


def test_mn_tasks_sheets_writes_a_contact_sheet_per_task(tmp_path, capsys):
    from PIL import Image

    from mn_ros.cli import main
    assert main(["tasks", "--tasks", "turn_tap", "--sheets", str(tmp_path), "--workers", "1"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "turn_tap.png")
    sheet = np.asarray(Image.open(tmp_path / "turn_tap.png").convert("RGB")).astype(int)
    assert sheet.shape == (22 + 2 * 192, 2 * 192, 3)      # 2 variations: start above end
    start, end = sheet[22:214, :192], sheet[214:, :192]
    assert np.abs(start - end).sum(-1).astype(bool).mean() > 0.05   # the arm moved
    assert not list(tmp_path.glob(".*"))                  # no temporary file left behind
