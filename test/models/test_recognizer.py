"""Recognizer: config, tokenizer, shapes, space-time attention, loss positives, training."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mn_models.recognizer.config import (RECOGNIZER_PRESETS, RecognizerConfig,
                                         make_recognizer_config)
from mn_models.recognizer.model import (Recognizer, caption_ids, count_parameters,
                                        sample_frame_indices)
from mn_models.recognizer.tokenizer import EOT_ID, SOT_ID, ClipTokenizer, find_bpe_vocab


@pytest.fixture(scope="module")
def tok():
    return ClipTokenizer()


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return Recognizer(make_recognizer_config("tiny")).eval()


# ----- config ---------------------------------------------------------------------------------
def test_presets_build_and_typos_are_named():
    for name in RECOGNIZER_PRESETS:
        cfg = make_recognizer_config(name)
        assert cfg.name == name and cfg.num_frames == 8 and cfg.context_length == 32
    b16, l14 = make_recognizer_config("viclip_b16"), make_recognizer_config("viclip_l14")
    assert (b16.vision_width, b16.vision_layers, b16.vision_heads, b16.embed_dim) == (768, 12,
                                                                                      12, 512)
    assert (l14.vision_width, l14.vision_layers, l14.vision_heads, l14.embed_dim,
            l14.patch_size, l14.text_width, l14.text_heads) == (1024, 24, 16, 768, 14, 768, 12)
    assert make_recognizer_config("tiny", image_size=64).image_size == 64
    with pytest.raises(KeyError, match="'vision_widht'.*did you mean 'vision_width'"):
        make_recognizer_config("tiny", vision_widht=32)
    with pytest.raises(KeyError, match="unknown recognizer preset 'viclip_b32'"):
        make_recognizer_config("viclip_b32")
    with pytest.raises(ValueError, match="not a multiple of patch_size"):
        make_recognizer_config("tiny", image_size=36)
    with pytest.raises(ValueError, match="vision_width=64 is not divisible by vision_heads=5"):
        make_recognizer_config("tiny", vision_heads=5)
    with pytest.raises(ValueError, match="positives must be one of"):
        make_recognizer_config("tiny", positives="hard")
    with pytest.raises(ValueError, match="temp_init"):
        make_recognizer_config("tiny", temp_init=0.001)
    cfg = make_recognizer_config("viclip_b16", token_mask_ratio=0.5)
    assert RecognizerConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(KeyError, match="'layers'"):
        RecognizerConfig.from_dict({"layers": 3})


# ----- tokenizer ------------------------------------------------------------------------------
def test_known_clip_tokenizations(tok):
    # Reference ids published with CLIP/open_clip ports (a photo of a cat, Hello world).
    assert tok.encode("a photo of a cat") == [320, 1125, 539, 320, 2368]
    assert tok.encode("Hello, world!") == [3306, 267, 1002, 256]
    assert tok.encode("  A PHOTO of   a Cat! ") == [320, 1125, 539, 320, 2368, 256]
    ids = tok(["open the top drawer", "a photo of a cat"])
    assert ids.shape == (2, 32) and ids.dtype == torch.long
    assert ids[0, :6].tolist() == [SOT_ID, 1488, 518, 1253, 23219, EOT_ID]
    assert ids[0, 6:].eq(0).all() and ids[1, :7].tolist()[-1] == EOT_ID
    assert (SOT_ID, EOT_ID, tok.vocab_size) == (49406, 49407, 49408)
    long = tok([" ".join(["push the maroon button"] * 20)])
    assert long.shape == (1, 32) and long[0, 0] == SOT_ID and long[0, -1] == EOT_ID
    assert long[0].argmax() == 31  # pooling finds EOT even when truncated
    assert tok.decode(tok.encode("put the ring on the azure spoke")) == \
        "put the ring on the azure spoke"


def test_bpe_path_override(monkeypatch, tmp_path):
    monkeypatch.setenv("MN_CLIP_BPE_PATH", str(tmp_path / "nope.txt.gz"))
    with pytest.raises(FileNotFoundError, match="MN_CLIP_BPE_PATH"):
        find_bpe_vocab()


# ----- shapes and inputs ----------------------------------------------------------------------
def test_embedding_shapes_and_inputs(tiny):
    cfg = tiny.config
    frames = torch.randn(2, 8, 3, 32, 32)
    with torch.no_grad():
        u = tiny.embed_video(frames)
        assert u.shape == (2, cfg.embed_dim)
        assert torch.equal(tiny.video_feature(frames), u)
        assert tiny.embed_video(frames, project=False).shape == (2, cfg.vision_width)
        video_u8 = np.random.default_rng(0).integers(0, 256, (3, 8, 48, 40, 3), dtype=np.uint8)
        assert tiny.embed_video(video_u8).shape == (3, cfg.embed_dim)
        assert tiny.embed_video(torch.from_numpy(video_u8)).shape == (3, cfg.embed_dim)
        assert tiny.preprocess(video_u8[0]).shape == (1, 8, 3, 32, 32)
        assert tiny.embed_video(torch.randn(2, 1, 3, 32, 32)).shape == (2, cfg.embed_dim)
        t = tiny.embed_text(["open the top drawer", "turn left tap", "x"])
        assert t.shape == (3, cfg.embed_dim)
        assert torch.allclose(tiny.embed_text(tiny.tokenize(["turn left tap"]))[0], t[1])
        idx, scores = tiny.recognize(frames, ["open the top drawer", "turn left tap", "x"])
        assert idx.shape == (2,) and scores.shape == (2, 3) and scores.abs().max() <= 1 + 1e-5
        assert torch.equal(tiny.recognize(frames, t)[0], idx)  # precomputed text embeddings
    with pytest.raises(ValueError, match="takes 8 frames"):
        tiny.embed_video(torch.randn(1, 5, 3, 32, 32))
    with pytest.raises(ValueError, match="preprocess"):
        tiny.embed_video(torch.randn(1, 8, 3, 40, 40))
    with pytest.raises(TypeError, match="list of captions"):
        tiny.embed_text("open the top drawer")
    assert sample_frame_indices(20, 8).tolist() == [0, 3, 5, 8, 11, 14, 16, 19]
    assert sample_frame_indices(3, 8).tolist() == [0, 0, 1, 1, 1, 1, 2, 2]


def test_joint_space_time_attention_sees_frame_order(tiny):
    """Attention has no mask, so only the temporal embedding tells frames apart: with it
    zeroed, reversing the frames leaves the CLS output unchanged; with it set, it changes."""
    frames = torch.randn(2, 8, 3, 32, 32)
    reversed_ = frames.flip(1)
    enc = tiny.vision_encoder
    with torch.no_grad():
        enc.temporal_positional_embedding.zero_()
        assert torch.allclose(enc(frames), enc(reversed_), atol=1e-5)
        enc.temporal_positional_embedding.normal_(std=0.5)
        assert not torch.allclose(enc(frames), enc(reversed_), atol=1e-3)
        one = frames.clone()
        one[:, 7] += 1.0  # every frame reaches the single CLS token
        assert not torch.allclose(enc(frames), enc(one), atol=1e-3)
        enc.temporal_positional_embedding.zero_()
    n_tokens = 1 + enc.cfg.grid_size ** 2 * 8
    assert enc.positional_embedding.shape == (enc.cfg.grid_size ** 2 + 1, 64)
    assert n_tokens == 129


def test_token_masking_only_in_training():
    torch.manual_seed(0)
    model = Recognizer(make_recognizer_config("tiny", token_mask_ratio=0.5))
    frames = torch.randn(2, 8, 3, 32, 32)
    with torch.no_grad():
        model.train()
        a, b = model.embed_video(frames), model.embed_video(frames)
        assert not torch.allclose(a, b)
        model.eval()
        assert torch.equal(model.embed_video(frames), model.embed_video(frames))


def test_vit_b16_parameter_counts():
    cfg = make_recognizer_config("viclip_b16")
    with torch.device("meta"):
        model = Recognizer(cfg)
    w, L, t = 768, 12, 512
    block = lambda d: 4 * d * d + 4 * d + 2 * (4 * d * d) + 4 * d + d + 4 * d  # noqa: E731
    vision = 3 * 16 * 16 * w + w + 197 * w + 8 * w + 2 * w + L * block(w) + 2 * w + w * 512
    text = 49408 * t + 32 * t + 12 * block(t) + 2 * t + t * 512
    assert count_parameters(model.vision_encoder) == vision
    assert 85.5e6 < vision < 87e6  # ViT-B/16 ~86M
    assert count_parameters(model.text_encoder) == text  # ~63M, CLIP's text tower at ctx 32
    assert count_parameters(model) == vision + text + 1  # + temp


# ----- loss -----------------------------------------------------------------------------------
def _manual_loss(logits, pos, mode):
    def direction(lg):
        logp = lg.log_softmax(1)
        if mode == "soft":
            return (-(logp * pos).sum(1) / pos.sum(1)).mean()
        return (-logp.masked_fill(~pos, float("-inf")).logsumexp(1)).mean()
    return ((direction(logits) + direction(logits.T)) / 2).item()


@pytest.mark.parametrize("mode", ["soft", "lse"])
def test_same_caption_samples_are_positives(mode):
    torch.manual_seed(1)
    model = Recognizer(make_recognizer_config("tiny", positives=mode)).eval()
    frames = torch.randn(4, 8, 3, 32, 32)
    captions = ["open the top drawer", "turn left tap", "open the top drawer", "x"]
    same_caption = torch.tensor([[1, 0, 1, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]]).bool()
    with torch.no_grad():
        v = F.normalize(model.embed_video(frames), dim=-1)
        t = F.normalize(model.embed_text(captions), dim=-1)
        logits = v @ t.T / model.temp
        # default targets: identical captions are positives
        loss, logs = model(frames, captions)
        assert loss.item() == pytest.approx(_manual_loss(logits, same_caption, mode), rel=1e-5)
        # explicit targets (e.g. instruction ids) may group different captions
        grouped = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 1]]).bool()
        loss_g, _ = model(frames, captions, targets=torch.tensor([3, 3, 3, 9]))
        assert loss_g.item() == pytest.approx(_manual_loss(logits, grouped, mode), rel=1e-5)
        # all distinct: plain CLIP cross-entropy
        loss_d, _ = model(frames, captions, targets=torch.arange(4))
        ce = (F.cross_entropy(logits, torch.arange(4))
              + F.cross_entropy(logits.T, torch.arange(4))) / 2
        assert loss_d.item() == pytest.approx(ce.item(), rel=1e-5)
        assert loss_g.item() != pytest.approx(loss_d.item(), rel=1e-3)
        if mode == "lse":  # (with "soft", duplicated captions happen to give exactly the CE)
            assert loss.item() != pytest.approx(loss_d.item(), rel=1e-3)
    assert set(logs) >= {"recognizer/loss", "recognizer/acc_v2t", "recognizer/temp"}
    ids = caption_ids(model.tokenize(captions))
    assert ids[0] == ids[2] and len(set(ids.tolist())) == 3


def test_temperature_is_learnable_and_clamped():
    torch.manual_seed(0)
    model = Recognizer(make_recognizer_config("tiny"))
    assert model.temp.requires_grad and model.temp.item() == pytest.approx(0.07)
    with torch.no_grad():
        model.temp.fill_(0.001)
    assert model.temperature().item() == pytest.approx(0.01)  # clamped to temp_min
    assert make_recognizer_config("viclip_b16").temp_init == 0.01  # ViCLIP's init


def test_save_and_load_pretrained(tiny, tmp_path):
    frames = torch.randn(1, 8, 3, 32, 32)
    folder = tiny.save_pretrained(tmp_path / "rec")
    tiny.save_pretrained(tmp_path / "rec")  # overwriting works
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec"]  # no temp folders left
    again = Recognizer.from_pretrained(folder).eval()
    assert again.config == tiny.config
    with torch.no_grad():
        assert torch.allclose(again.embed_video(frames), tiny.embed_video(frames))
        assert torch.allclose(again.embed_text(["turn left tap"]),
                              tiny.embed_text(["turn left tap"]))
    with pytest.raises(FileNotFoundError, match="config.json"):
        Recognizer.from_pretrained(tmp_path)


# ----- learning -------------------------------------------------------------------------------
CAPTIONS = ["slide the red block to the right", "slide the red block down",
            "slide the blue block to the right", "slide the blue block down"]
COLOURS = [(220, 40, 40), (40, 60, 220)]


def moving_squares(n, rng, T=8, S=32, sq=8, speed=2):
    """Clips of a red/blue square moving right/down on grey noise; label = caption index."""
    labels = rng.integers(0, 4, size=n)
    video = np.repeat(rng.integers(20, 60, size=(n, 1, 1, 1, 1)), 3, axis=-1)
    video = np.broadcast_to(video, (n, T, S, S, 3)).astype(np.int16).copy()
    for i, c in enumerate(labels):
        dy, dx = (0, speed) if c % 2 == 0 else (speed, 0)
        y0 = rng.integers(0, S - sq - (T - 1) * dy + 1)
        x0 = rng.integers(0, S - sq - (T - 1) * dx + 1)
        for t in range(T):
            y, x = y0 + dy * t, x0 + dx * t
            video[i, t, y:y + sq, x:x + sq] = COLOURS[c // 2]
    video += rng.integers(-10, 11, size=video.shape)
    return video.clip(0, 255).astype(np.uint8), labels


@pytest.mark.slow
def test_tiny_recognizer_learns_moving_squares():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = Recognizer(make_recognizer_config("tiny"))
    tokens = model.tokenize(CAPTIONS)
    val_video, val_labels = moving_squares(256, np.random.default_rng(1))
    val_video = model.preprocess(val_video)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0, fused=True)

    def accuracy():
        model.eval()
        idx, _ = model.recognize(val_video, tokens)
        model.train()
        return (idx.numpy() == val_labels).mean()

    acc_before = accuracy()
    losses = []
    for step in range(200):
        video, labels = moving_squares(32, rng)
        for group in opt.param_groups:
            group["lr"] = 1e-3 * min(1.0, (step + 1) / 20)  # warm-up
        loss, logs = model(video, tokens[labels], targets=torch.from_numpy(labels))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    acc = accuracy()
    assert acc_before < 0.45
    assert acc >= 0.9, acc
    # soft targets with ~8 same-caption positives per row: the floor is about log(8)
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.8
    assert np.mean(losses[-10:]) > math.log(4)
