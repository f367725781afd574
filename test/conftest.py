"""Shared test set-up: headless rendering and offline model hubs for every test."""
import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A small real dataset: 2 tasks x 4 keyframe-only episodes collected in the simulator."""
    from mn_sim.collect import CollectConfig, collect
    root = tmp_path_factory.mktemp("tiny_dataset")
    summary = collect(CollectConfig(tasks=["open_drawer", "turn_tap"], episodes_per_task=4,
                                    out=root, workers=0, frame_rate=None, video=False,
                                    log_every=1e9))
    assert summary.ok, str(summary)
    return root
