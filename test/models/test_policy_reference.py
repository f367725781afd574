"""Same numbers, faster (issue 9): the policy's outputs equal those the pre-speed-work code
computed (recorded by test/models/reference/make_policy_reference.py at commit ac21c2d), and
equal the kept pre-issue code path (mn_models/policy/baseline.py) on other inputs."""
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mn_models.policy import constants as K
from mn_models.policy.arp import ARPPolicy
from mn_models.policy.config import make_policy_config

REF = Path(__file__).resolve().parent / "reference"
CAMERAS = ("front", "left_shoulder", "right_shoulder", "wrist")
TOL = dict(rtol=1e-5, atol=1e-5)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def inputs():
    return load_file(str(REF / "inputs.safetensors"))


def _policies():
    """name -> (policy, recorded outputs)."""
    torch.manual_seed(0)
    tiny = ARPPolicy(make_policy_config("tiny", cameras=CAMERAS, vocab_size=64))
    return {"mini_c2f": ARPPolicy.from_pretrained(REF / "mini_c2f"), "tiny": tiny}


@pytest.fixture(scope="module", params=["mini_c2f", "tiny"])
def case(request):
    policy = _policies()[request.param]
    return request.param, policy, load_file(str(REF / f"{request.param}.safetensors"))


def _close(got, want, name):
    torch.testing.assert_close(got, want, **TOL, msg=lambda m: f"{name}: {m}")


def test_predict_equals_the_recorded_outputs(case, inputs):
    name, policy, ref = case
    batch = {k: v for k, v in inputs.items() if k != K.ACTION}
    policy.eval()
    with torch.no_grad():
        out = policy.predict(batch)
    _close(out[K.ACTIONS], ref["predict.actions"], f"{name} actions")
    _close(out[K.EMBEDDING], ref["predict.e"], f"{name} e")
    _close(out[K.POINT], ref["predict.point"], f"{name} point")
    assert torch.equal(out[K.ROT_BINS], ref["predict.rot_bins"])
    _close(out["prompt"], ref["predict.prompt"], f"{name} prompt")
    for i, hm in enumerate(out[K.HEATMAPS]):
        _close(hm, ref[f"predict.heatmap{i}"], f"{name} heatmap {i}")
    for n, lg in out[K.TOKEN_LOGITS].items():
        _close(lg, ref[f"predict.logits.{n}"], f"{name} {n} logits")


def test_training_forward_equals_the_recorded_outputs(case, inputs):
    name, policy, ref = case
    policy.eval()
    with torch.no_grad():
        loss, _, out = policy(inputs)
    _close(loss.reshape(1), ref["forward_eval.loss"], f"{name} loss")
    _close(out[K.EMBEDDING], ref["forward_eval.e"], f"{name} e")
    for i, hm in enumerate(out[K.HEATMAPS]):
        _close(hm, ref[f"forward_eval.heatmap{i}"], f"{name} heatmap {i}")
    for n, lg in out[K.TOKEN_LOGITS].items():
        _close(lg, ref[f"forward_eval.logits.{n}"], f"{name} {n} logits")


def test_training_step_gradients_equal_the_recorded_ones(inputs):
    """Train mode (rotation jitter, stage-2 centre noise from torch's seeded RNG; this
    config has no dropout, whose random masks are not part of the numbers)."""
    policy = ARPPolicy.from_pretrained(REF / "mini_c2f")
    ref = load_file(str(REF / "mini_c2f.safetensors"))
    policy.train()
    torch.manual_seed(123)
    loss, _, out = policy(inputs)
    loss.backward()
    _close(loss.detach().reshape(1), ref["forward_train.loss"], "loss")
    _close(out[K.EMBEDDING].detach(), ref["forward_train.e"], "e")
    params = dict(policy.named_parameters())
    for key in [k for k in ref if k.startswith("grad.")]:
        _close(params[key[5:]].grad, ref[key], key)


def test_a_checkpoint_written_before_the_speed_work_gives_the_same_actions(inputs):
    policy = ARPPolicy.from_pretrained(REF / "mini_c2f")
    ref = load_file(str(REF / "mini_c2f.safetensors"))
    actions, e = policy.predict_action({k: v for k, v in inputs.items() if k != K.ACTION})
    _close(actions, ref["predict.actions"], "actions")
    _close(e, ref["predict.e"], "e")


# ------------------------------------------------------------------ new path == pre-issue path


@pytest.fixture(scope="module")
def real_batch():
    """Two observations of the simulator's four 128 px cameras (the policy's real input)."""
    from mn_models.policy.synthetic import make_synthetic_batch
    return make_synthetic_batch(2, seed=11, hw=128, cameras=CAMERAS)


@pytest.mark.parametrize("splat", [0, 1, 2])
def test_renderer_equals_the_pre_issue_renderer(real_batch, splat):
    from mn_models.policy import pointcloud as pc
    from mn_models.policy.baseline import render_views_pre_issue9
    pts, cols, valid = pc.fuse_cameras(real_batch, CAMERAS)
    bounds = (-0.3, -0.5, 0.6, 0.7, 0.5, 1.6)
    valid = valid & pc.in_bounds(pts, bounds)
    cube = pc.world_to_cube(pts, bounds)
    # points exactly on pixel borders, on the cube faces, ties in depth, outside the cube
    g = torch.Generator().manual_seed(splat)
    edge = (torch.randint(0, 33, (2, 500, 3), generator=g) / 16.0 - 1.0)
    cube = torch.cat([cube, edge, edge + 1e-3, edge * 1.01], 1)
    cols = torch.cat([cols, torch.rand(2, 1500, 3, generator=g)], 1)
    valid = torch.cat([valid, torch.ones(2, 1500, dtype=torch.bool)], 1)
    for S in (32, 64):
        want = render_views_pre_issue9(cube, cols, valid, S, ("top", "front", "right"), splat)
        got = pc.render_views(cube, cols, valid, S, ("top", "front", "right"), splat)
        assert torch.equal(got, want), (S, splat)
        five = ("top", "front", "right", "left", "back")
        assert torch.equal(pc.render_views(cube, cols, valid, S, five, splat),
                           render_views_pre_issue9(cube, cols, valid, S, five, splat))


@pytest.mark.parametrize("preset", ["tiny", "mini_c2f"])
def test_fast_path_equals_the_pre_issue_path_on_real_sized_inputs(real_batch, preset):
    from mn_models.policy.baseline import BaselineARPPolicy
    from mn_models.recognizer.tokenizer import get_tokenizer
    if preset == "tiny":
        torch.manual_seed(1)
        policy = ARPPolicy(make_policy_config("tiny", cameras=CAMERAS))
        tokens = get_tokenizer(77)(["open the bottom drawer", "turn left tap"])
        batch = {**real_batch, K.LANG_TOKENS: tokens, K.LANG_MASK: tokens != 0}
    else:
        policy = ARPPolicy.from_pretrained(REF / "mini_c2f")
        batch = dict(real_batch)
        batch[K.LANG_TOKENS] = torch.tensor([[1, 2, 4, 0, 0, 0], [1, 3, 4, 0, 0, 0]])
        batch[K.LANG_MASK] = batch[K.LANG_TOKENS] != 0
    base = BaselineARPPolicy.from_policy(policy).eval()
    policy.eval()
    with torch.no_grad():
        got, want = policy.predict(batch), base.predict(batch)
        (l_got, _, o_got), (l_want, _, o_want) = policy(batch), base(batch)
    assert torch.equal(got[K.ROT_BINS], want[K.ROT_BINS])
    for key in (K.ACTIONS, K.EMBEDDING, K.POINT):
        _close(got[key], want[key], key)
    for a, b in zip(got[K.HEATMAPS], want[K.HEATMAPS]):
        _close(a, b, "heatmap")
    for n in got[K.TOKEN_LOGITS]:
        _close(got[K.TOKEN_LOGITS][n], want[K.TOKEN_LOGITS][n], n)
    _close(l_got, l_want, "loss")
    _close(o_got[K.EMBEDDING], o_want[K.EMBEDDING], "forward e")


def test_pre_rendered_views_give_the_same_training_step(real_batch):
    """The trainer's view cache (K.VIEWS) replaces the cameras without changing the step."""
    from mn_models.recognizer.tokenizer import get_tokenizer
    torch.manual_seed(2)
    policy = ARPPolicy(make_policy_config("tiny", cameras=CAMERAS, policy_dropout=0.0,
                                          attn_dropout=0.0))
    tokens = get_tokenizer(77)(["open the bottom drawer", "turn left tap"])
    batch = {**real_batch, K.LANG_TOKENS: tokens, K.LANG_MASK: tokens != 0}
    views = policy.render_stage1(batch)
    assert views.shape == (2, 3, 7, 64, 64)
    cached = {k: v for k, v in batch.items() if not k.startswith(CAMERAS)}
    cached[K.VIEWS] = views
    policy.train()
    torch.manual_seed(5)
    l1, _, o1 = policy(batch)
    torch.manual_seed(5)
    l2, _, o2 = policy(cached)
    _close(l2, l1, "loss")
    _close(o2[K.EMBEDDING], o1[K.EMBEDDING], "e")
    with torch.no_grad():
        _close(policy.predict(cached)[K.ACTIONS], policy.predict(batch)[K.ACTIONS], "actions")
    with pytest.raises(ValueError, match="augmentation"):
        policy.cfg.augment = True
        policy(cached)
    policy.cfg.augment = False
    with pytest.raises(ValueError, match="rebuild the view cache"):
        policy({**cached, K.VIEWS: views[:, :, :, :32, :32]})


def test_fast_attention_dropout_drops_at_the_configured_rate():
    from mn_models.policy.mvt import attention_with_dropout, dropout_drop_mask
    torch.manual_seed(0)
    for p in (0.1, 0.5, 0.9):
        rate = dropout_drop_mask((400, 1000), p).float().mean().item()
        assert abs(rate - p) < 0.004, (p, rate)      # 4 sd of 400k draws
    torch.manual_seed(0)
    a, b = dropout_drop_mask((1000,), 0.3), dropout_drop_mask((1000,), 0.3)
    assert not torch.equal(a, b)                     # fresh draws
    torch.manual_seed(0)
    assert torch.equal(dropout_drop_mask((1000,), 0.3), a)   # from torch's seeded generator
    q, k, v = (torch.randn(2, 3, 7, 8) for _ in range(3))
    mask = torch.ones(2, 1, 1, 7, dtype=torch.bool)
    mask[0, ..., 5:] = False
    _close(attention_with_dropout(q, k, v, mask, 1e-9),
           torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask), "p->0")
    # expectation: averaging many dropped-out outputs gives the plain attention
    outs = torch.stack([attention_with_dropout(q, k, v, mask, 0.5) for _ in range(4000)])
    plain = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    err = (outs.mean(0) - plain).abs().max().item()
    assert err < 0.1, err
