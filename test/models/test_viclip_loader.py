"""ViCLIP checkpoint loading: every key mapped, values where they belong, strict errors.

The synthetic checkpoints follow ViCLIP's published layout (InternVid viclip/*.py), built
from the config's shapes alone (not from our model), filled with random numbers.
"""
import sys
import types

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from mn_models.recognizer.config import make_recognizer_config
from mn_models.recognizer.model import Recognizer
from mn_models.recognizer.viclip_loader import (CheckpointMismatchError,
                                                convert_viclip_state_dict,
                                                load_viclip_checkpoint,
                                                load_viclip_state_dict)


def viclip_state_dict(cfg, text_positions=77, seed=0):
    """Random tensors with ViCLIP's key names and the shapes ``cfg`` implies."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.05

    sd = {}
    w, p = cfg.vision_width, cfg.patch_size
    v = "vision_encoder."
    sd[v + "conv1.weight"] = r(w, 3, cfg.tubelet_size, p, p)
    sd[v + "class_embedding"] = r(w)
    sd[v + "positional_embedding"] = r(cfg.grid_size ** 2 + 1, w)
    sd[v + "temporal_positional_embedding"] = r(1, cfg.num_frames, w)

    def blocks(prefix, width, layers):
        hidden = int(width * 4)
        for i in range(layers):
            b = f"{prefix}transformer.resblocks.{i}."
            sd[b + "attn.in_proj_weight"] = r(3 * width, width)
            sd[b + "attn.in_proj_bias"] = r(3 * width)
            sd[b + "attn.out_proj.weight"] = r(width, width)
            sd[b + "attn.out_proj.bias"] = r(width)
            sd[b + "mlp.c_fc.weight"] = r(hidden, width)
            sd[b + "mlp.c_fc.bias"] = r(hidden)
            sd[b + "mlp.c_proj.weight"] = r(width, hidden)
            sd[b + "mlp.c_proj.bias"] = r(width)
            for ln in ("ln_1", "ln_2"):
                sd[b + ln + ".weight"] = 1 + r(width)
                sd[b + ln + ".bias"] = r(width)

    for ln in ("ln_pre", "ln_post"):
        sd[v + ln + ".weight"] = 1 + r(w)
        sd[v + ln + ".bias"] = r(w)
    blocks(v, w, cfg.vision_layers)
    sd[v + "proj"] = r(w, cfg.embed_dim)
    t, tw = "text_encoder.", cfg.text_width
    sd[t + "token_embedding.weight"] = r(cfg.vocab_size, tw)
    sd[t + "positional_embedding"] = r(text_positions, tw)
    blocks(t, tw, cfg.text_layers)
    sd[t + "ln_final.weight"] = 1 + r(tw)
    sd[t + "ln_final.bias"] = r(tw)
    sd[t + "text_projection"] = r(tw, cfg.embed_dim)
    sd["temp"] = torch.tensor(0.0123)
    return sd


def expected_source(key, model):
    """(ViCLIP key, row slice or None) the recognizer parameter ``key`` must come from —
    written out independently of the loader's own mapping."""
    if key.startswith("vision_encoder.") or key == "temp":
        return key, None
    if key == "text_encoder.text_projection":
        return key, None
    nested = hasattr(model.text_encoder.hf, "text_model")  # transformers 4.x layout
    hf = "text_encoder.hf." + ("text_model." if nested else "")
    assert key.startswith(hf), key
    rest = key[len(hf):]
    fixed = {"embeddings.token_embedding.weight": "token_embedding.weight",
             "embeddings.position_embedding.weight": "positional_embedding",
             "final_layer_norm.weight": "ln_final.weight",
             "final_layer_norm.bias": "ln_final.bias"}
    if rest in fixed:
        rows = slice(0, model.config.context_length) if "position" in rest else None
        return "text_encoder." + fixed[rest], rows
    _, _, i, module, *name = rest.split(".")  # encoder.layers.{i}.{module}.{...}
    block = f"text_encoder.transformer.resblocks.{i}."
    name = ".".join(name)
    width = model.config.text_width
    if module == "self_attn" and name.split(".")[0] in ("q_proj", "k_proj", "v_proj"):
        j = "qkv".index(name[0])
        return block + "attn.in_proj_" + name.split(".")[1], slice(j * width, (j + 1) * width)
    renames = {"self_attn.out_proj": "attn.out_proj", "layer_norm1": "ln_1",
               "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}
    head, leaf = (module + "." + name).rsplit(".", 1)
    return block + renames[head] + "." + leaf, None


def check_every_parameter(model, source):
    used = set()
    for key, value in model.state_dict().items():
        src, rows = expected_source(key, model)
        expected = source[src] if rows is None else source[src][rows]
        assert torch.equal(value, expected), f"{key} != {src}[{rows}]"
        used.add(src)
    assert used == set(source)  # every checkpoint tensor landed somewhere


@pytest.fixture(scope="module")
def tiny_cfg():
    return make_recognizer_config("tiny")


def _roundtrip(cfg, tmp_path):
    source = viclip_state_dict(cfg)
    pth, st = tmp_path / "viclip.pth", tmp_path / "viclip.safetensors"
    torch.save({"model": source, "epoch": 3}, pth)
    save_file(source, str(st))
    torch.manual_seed(1)
    model = Recognizer(cfg)
    for path in (pth, st):
        with torch.no_grad():
            for p in model.parameters():
                p.zero_()
        notes = load_viclip_checkpoint(model, path)
        assert any("77 positions cut to the context length 32" in n for n in notes)
        check_every_parameter(model, source)
    return model, source


def test_roundtrip_tiny_pth_and_safetensors(tiny_cfg, tmp_path):
    _roundtrip(tiny_cfg, tmp_path)


@pytest.mark.slow
def test_roundtrip_viclip_b16(tmp_path):
    model, source = _roundtrip(make_recognizer_config("viclip_b16"), tmp_path)
    assert model.text_encoder.hf.embeddings.position_embedding.weight.shape == (32, 512)
    q = model.state_dict()[[k for k in model.state_dict() if "layers.11.self_attn.v_proj.weight"
                            in k][0]]
    assert torch.equal(q, source["text_encoder.transformer.resblocks.11.attn.in_proj_weight"]
                       [1024:])


def test_functional_equivalence_with_viclip_reference(tiny_cfg):
    """Outputs after loading equal a direct re-implementation of ViCLIP's forward pass
    (viclip_vision.VisionTransformer / viclip_text.CLIP_TEXT) on the raw checkpoint tensors."""
    sd = viclip_state_dict(tiny_cfg, seed=3)
    model = Recognizer(tiny_cfg).eval()
    load_viclip_state_dict(model, sd)

    def block(x, pre, heads, mask=None):  # x: (N, B, C), seq-first like ViCLIP
        C = x.shape[-1]
        h = F.layer_norm(x, (C,), sd[pre + "ln_1.weight"], sd[pre + "ln_1.bias"])
        a, _ = F.multi_head_attention_forward(
            h, h, h, C, heads, sd[pre + "attn.in_proj_weight"], sd[pre + "attn.in_proj_bias"],
            None, None, False, 0.0, sd[pre + "attn.out_proj.weight"],
            sd[pre + "attn.out_proj.bias"], need_weights=False, attn_mask=mask)
        x = x + a
        h = F.layer_norm(x, (C,), sd[pre + "ln_2.weight"], sd[pre + "ln_2.bias"])
        h = F.linear(h, sd[pre + "mlp.c_fc.weight"], sd[pre + "mlp.c_fc.bias"])
        h = h * torch.sigmoid(1.702 * h)
        return x + F.linear(h, sd[pre + "mlp.c_proj.weight"], sd[pre + "mlp.c_proj.bias"])

    torch.manual_seed(0)
    video = torch.randn(2, 8, 3, 32, 32)
    v = "vision_encoder."
    x = F.conv3d(video.permute(0, 2, 1, 3, 4), sd[v + "conv1.weight"], stride=(1, 8, 8))
    B, C, T, H, W = x.shape
    x = x.permute(0, 2, 3, 4, 1).reshape(B * T, H * W, C)
    x = torch.cat([sd[v + "class_embedding"] + torch.zeros(B * T, 1, C), x], dim=1)
    x = x + sd[v + "positional_embedding"]
    cls, x = x[:B, :1], x[:, 1:]
    x = x.reshape(B, T, H * W, C).permute(0, 2, 1, 3).reshape(B * H * W, T, C)
    x = x + sd[v + "temporal_positional_embedding"]
    x = torch.cat([cls, x.reshape(B, H * W * T, C)], dim=1)
    x = F.layer_norm(x, (C,), sd[v + "ln_pre.weight"], sd[v + "ln_pre.bias"]).permute(1, 0, 2)
    for i in range(tiny_cfg.vision_layers):
        x = block(x, f"{v}transformer.resblocks.{i}.", tiny_cfg.vision_heads)
    x = F.layer_norm(x, (C,), sd[v + "ln_post.weight"], sd[v + "ln_post.bias"])
    ref_video = x[0] @ sd[v + "proj"]

    tokens = model.tokenize(["open the top drawer", "turn left tap"])
    t = "text_encoder."
    L = tokens.shape[1]
    x = sd[t + "token_embedding.weight"][tokens] + sd[t + "positional_embedding"][:L]
    mask = torch.full((L, L), float("-inf")).triu(1)
    x = x.permute(1, 0, 2)
    for i in range(tiny_cfg.text_layers):
        x = block(x, f"{t}transformer.resblocks.{i}.", tiny_cfg.text_heads, mask)
    x = x.permute(1, 0, 2)
    x = F.layer_norm(x, (x.shape[-1],), sd[t + "ln_final.weight"], sd[t + "ln_final.bias"])
    ref_text = x[torch.arange(2), tokens.argmax(-1)] @ sd[t + "text_projection"]

    with torch.no_grad():
        torch.testing.assert_close(model.embed_video(video), ref_video, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(model.embed_text(tokens), ref_text, rtol=1e-4, atol=1e-5)
    assert model.temp.item() == pytest.approx(0.0123)


def test_missing_extra_and_misshaped_keys_are_named(tiny_cfg):
    model = Recognizer(tiny_cfg)
    sd = viclip_state_dict(tiny_cfg)
    del sd["text_encoder.transformer.resblocks.1.mlp.c_fc.bias"]
    with pytest.raises(CheckpointMismatchError,
                       match=r"missing keys.*encoder\.layers\.1\.mlp\.fc1\.bias"):
        load_viclip_state_dict(model, sd)
    sd = viclip_state_dict(tiny_cfg)
    sd["vision_encoder.transformer.resblocks.7.ln_1.weight"] = torch.ones(64)
    sd["text_encoder.logit_scale"] = torch.ones(())
    with pytest.raises(CheckpointMismatchError,
                       match=r"unexpected keys.*logit_scale.*vision_encoder\.transformer\."
                             r"resblocks\.7\.ln_1\.weight"):
        load_viclip_state_dict(model, sd)
    sd = viclip_state_dict(tiny_cfg)
    sd["vision_encoder.proj"] = torch.zeros(64, 32)
    with pytest.raises(CheckpointMismatchError,
                       match=r"wrong shapes: vision_encoder\.proj: checkpoint \(64, 32\) vs "
                             r"model \(64, 64\)"):
        load_viclip_state_dict(model, sd)
    # a B/16 checkpoint into the tiny model: refused, not half-loaded
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointMismatchError, match="viclip_b16 or viclip_l14"):
        load_viclip_state_dict(model, viclip_state_dict(make_recognizer_config(
            "tiny", vision_layers=3)))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_module_prefix_and_short_position_table(tiny_cfg):
    model = Recognizer(tiny_cfg)
    sd = viclip_state_dict(tiny_cfg, text_positions=32)
    notes = load_viclip_state_dict(model, {"module." + k: v for k, v in sd.items()})
    assert notes == []
    check_every_parameter(model, sd)
    converted, unexpected, _ = convert_viclip_state_dict(sd, model)
    assert unexpected == [] and set(converted) == set(model.state_dict())
    with pytest.raises(CheckpointMismatchError, match="position_embedding"):
        load_viclip_state_dict(model, viclip_state_dict(tiny_cfg, text_positions=16))


def test_pth_with_easydict_config_loads_but_arbitrary_objects_are_refused(tiny_cfg, tmp_path):
    """ViCLIP training checkpoints may carry an EasyDict config: read as a plain dict, never
    by running its code. Any other Python object is refused (weights-only load)."""
    parent = types.ModuleType("fake_viclip_utils")
    mod = types.ModuleType("fake_viclip_utils.easydict")
    parent.easydict = mod

    class EasyDict(dict):
        def __init__(self, d=None):
            super().__init__(d or {})
            for k, val in (d or {}).items():
                setattr(self, k, val)

    EasyDict.__module__, EasyDict.__qualname__ = mod.__name__, "EasyDict"
    mod.EasyDict = EasyDict
    sys.modules[parent.__name__], sys.modules[mod.__name__] = parent, mod
    try:
        sd = viclip_state_dict(tiny_cfg)
        path = tmp_path / "with_config.pth"
        torch.save({"model": sd, "config": EasyDict({"lr": 1e-5})}, path)
        model = Recognizer(tiny_cfg)
        load_viclip_checkpoint(model, path)
        check_every_parameter(model, sd)
    finally:
        del sys.modules[mod.__name__], sys.modules[parent.__name__]

    evil = tmp_path / "evil.pth"
    torch.save({"model": sd, "args": types.SimpleNamespace(lr=1)}, evil)
    with pytest.raises(ValueError, match="safetensors"):
        load_viclip_checkpoint(model, evil)
    with pytest.raises(FileNotFoundError):
        load_viclip_checkpoint(model, tmp_path / "missing.pth")
    with open(tmp_path / "list.pth", "wb") as f:
        torch.save([1, 2], f)
    with pytest.raises(ValueError, match="not a ViCLIP checkpoint"):
        load_viclip_checkpoint(model, tmp_path / "list.pth")
