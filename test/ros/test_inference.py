"""The ROS-free inference core of the policy and observer nodes (mn_models/runtime.py)."""
from __future__ import annotations

import numpy as np
import pytest

from ros_helpers import INSTRUCTIONS

pytestmark = pytest.mark.slow   # the session's tiny checkpoints take a few seconds


def synthetic_observation(hw: int = 32):
    from mn_models.policy.synthetic import CAMERA_POSES, intrinsics, look_at
    from mn_sim.types import CAMERAS, CameraObs, Observation
    rng = np.random.default_rng(0)
    cams = {c: CameraObs(rng.integers(0, 256, (hw, hw, 3), dtype=np.uint8),
                         np.full((hw, hw), 0.9, np.float32), intrinsics(hw),
                         look_at(*CAMERA_POSES[c]), 0.01, 4.5) for c in CAMERAS}
    return Observation(np.zeros(7), np.zeros(7), np.zeros(7), 1.0,
                       np.array([0.3, 0, 1.1, 1.0, 0, 0, 0]), np.eye(4), np.full(2, 0.04),
                       np.zeros(0), cameras=cams)


@pytest.mark.parametrize("kind, emb_kind, dim", [("mn", "z_e", 64), ("ee", "e", 64)])
def test_policy_runner_acts(tiny_checkpoints, kind, emb_kind, dim):
    from mn_models.runtime import PolicyRunner
    r = PolicyRunner(tiny_checkpoints[kind])
    assert r.instructions == INSTRUCTIONS
    action, emb, k = r.act(synthetic_observation(), INSTRUCTIONS[0])
    assert action.shape == (9,) and np.all(np.isfinite(action)) and k == emb_kind
    assert abs(np.linalg.norm(action[3:7]) - 1) < 1e-5 and set(action[7:]) <= {0.0, 1.0}
    assert emb.shape == (dim,)
    if emb_kind == "z_e":
        assert abs(np.linalg.norm(emb) - 1) < 1e-5
    with pytest.raises(ValueError, match="is empty"):
        r.check_instruction("  ")
    with pytest.raises(ValueError, match="not in the checkpoint's vocabulary"):
        r.check_instruction("dance")
    assert r.check_instruction("dance", allow_unknown=True) == "dance"


def test_recognizer_runner_recognizes(tiny_checkpoints):
    from mn_models.runtime import RecognizerRunner
    r = RecognizerRunner(tiny_checkpoints["mn"])
    frames = np.random.default_rng(0).integers(0, 256, (13, 48, 48, 3), dtype=np.uint8)
    out = r.recognize(frames, top_k=5)
    assert out.kind == "z_u" and out.frames == 13
    # the runner's answer and ranking are the checkpoint's recognizer's own, on the same clip
    import torch

    from mn_models.checkpoint import build_recognizer, open_checkpoint
    from mn_models.data import sample_clip_indices
    rec = build_recognizer(open_checkpoint(tiny_checkpoints["mn"])).eval()
    clip = frames[sample_clip_indices(len(frames), rec.config.num_frames, None)]
    with torch.no_grad():
        idx, scores = rec.recognize(torch.from_numpy(clip[None]), INSTRUCTIONS)
    assert out.instruction == INSTRUCTIONS[int(idx[0])]
    order = torch.argsort(scores[0], descending=True).tolist()
    assert [i for i, _ in out.top_k] == [INSTRUCTIONS[k] for k in order]
    np.testing.assert_allclose([s for _, s in out.top_k], scores[0][order].numpy(), atol=1e-5)
    assert out.embedding.shape == (64,) and abs(np.linalg.norm(out.embedding) - 1) < 1e-5
    again = r.recognize(frames)
    np.testing.assert_array_equal(again.embedding, out.embedding)   # deterministic
    assert RecognizerRunner(tiny_checkpoints["au"]).recognize(frames).kind == "u"
    with pytest.raises(ValueError, match="uint8"):
        r.recognize(frames.astype(np.float32))


@pytest.mark.parametrize("runner, kind, message", [
    ("PolicyRunner", "", "no checkpoint given: set the 'checkpoint' parameter"),
    ("PolicyRunner", "missing", "does not exist; train one with `mn train`"),
    ("RecognizerRunner", "ee", "is a 'ee' checkpoint without \\['recognizer'\\]"),
    ("RecognizerRunner", "truncated", "cannot be read .*truncated or corrupt"),
])
def test_runners_refuse_bad_checkpoints(tiny_checkpoints, tmp_path, runner, kind, message):
    from mn_models.checkpoint import CheckpointError
    from mn_models import runtime as inference
    paths = dict(tiny_checkpoints, missing=tmp_path / "nope", **{"": ""})
    with pytest.raises(CheckpointError, match=message):
        getattr(inference, runner)(paths[kind])


def test_recognizer_runner_applies_the_open_set_rule_of_its_checkpoint(tiny_checkpoints,
                                                                       tmp_path):
    """open_set.json beside the weights makes the runner answer 'none' below its threshold
    (the ranking is still returned); without it, or with open_set=False, it always names one."""
    import shutil

    from mn_models.eval.open_set import OpenSetError, OpenSetRule, save_rule
    from mn_models.runtime import RecognizerRunner
    ck = tmp_path / "mn"
    shutil.copytree(tiny_checkpoints["mn"], ck)
    frames = np.random.default_rng(0).integers(0, 256, (12, 48, 48, 3), dtype=np.uint8)
    plain = RecognizerRunner(ck).recognize(frames)
    assert plain.open_set is None and not plain.abstained and plain.instruction in INSTRUCTIONS
    save_rule(ck, OpenSetRule("top1", 2.0))                # no cosine reaches 2: always none
    out = RecognizerRunner(ck).recognize(frames)
    assert out.abstained and out.instruction == "none" and out.top_k == plain.top_k
    assert out.open_set == {"statistic": "top1", "value": round(plain.top_k[0][1], 6),
                            "threshold": 2.0}
    assert RecognizerRunner(ck, open_set=False).recognize(frames).instruction == \
        plain.instruction
    save_rule(ck, OpenSetRule("margin", -1.0))             # every margin is >= 0: never none
    assert RecognizerRunner(ck).recognize(frames).instruction == plain.instruction
    (ck / "open_set.json").write_text("[]")
    with pytest.raises(OpenSetError, match="run `mn calibrate` again"):
        RecognizerRunner(ck)
