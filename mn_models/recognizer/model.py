"""ViCLIP-style action-understanding model: a space-time video encoder and a CLIP text encoder.

Video encoder (ViCLIP's architecture, module names match its checkpoints): a CLIP ViT whose
patch embedding is a Conv3d with temporal kernel 1 (stride (1, p, p)); every patch of every
frame gets the spatial positional embedding of its location plus the learned temporal
embedding of its frame; one CLS token (class embedding + spatial position 0) is prepended and
all 1 + T * (H/p) * (W/p) tokens attend to each other jointly (space-time attention) through
CLIP residual blocks (nn.MultiheadAttention, QuickGELU MLP). Output: CLS after ln_post, @ proj.

Text encoder: transformers' CLIPTextModel (causal, context 32) built from a config (never
downloaded), feature at the EOT token (the largest id in each row) @ text_projection.

Recognition picks the candidate caption with the highest cosine similarity to the video.
``u`` for the mirror alignment (paper: "output feature of the video encoder") is the
projected CLS embedding, ``video_feature(frames)`` (B, embed_dim), before normalization.

Run ``python -m mn_models.recognizer.model`` for a small example.
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import CLIPTextConfig, CLIPTextModel

from mn_models.checkpoint import atomic_folder
from mn_models.losses import bidirectional_contrastive_loss
from mn_models.recognizer.config import RecognizerConfig
from mn_models.recognizer.tokenizer import EOT_ID, SOT_ID, ClipTokenizer, get_tokenizer

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class QuickGELU(nn.Module):
    """CLIP's GELU approximation x * sigmoid(1.702 x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch of a sample with probability p."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = x.new_empty(x.shape[0], *([1] * (x.ndim - 1))).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class ResidualAttentionBlock(nn.Module):
    """Pre-norm CLIP block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0):
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, hidden)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(hidden, width)),
        ]))
        self.ln_2 = nn.LayerNorm(width)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, N, C)
        h = self.ln_1(x)
        x = x + self.drop_path(self.attn(h, h, h, need_weights=False)[0])
        return x + self.drop_path(self.mlp(self.ln_2(x)))


class Transformer(nn.Module):
    """A stack of residual blocks (``resblocks``, the checkpoints' name)."""

    def __init__(self, width: int, layers: int, heads: int, mlp_ratio: float,
                 drop_path_rate: float = 0.0):
        super().__init__()
        rates = [drop_path_rate * i / max(layers - 1, 1) for i in range(layers)]  # 0 -> rate
        self.resblocks = nn.ModuleList(
            [ResidualAttentionBlock(width, heads, mlp_ratio, r) for r in rates])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x)
        return x


class VideoEncoder(nn.Module):
    """ViCLIP's video ViT with joint space-time attention; returns CLS features."""

    def __init__(self, cfg: RecognizerConfig):
        super().__init__()
        self.cfg = cfg
        width, p, k = cfg.vision_width, cfg.patch_size, cfg.tubelet_size
        self.conv1 = nn.Conv3d(3, width, kernel_size=(k, p, p), stride=(k, p, p), bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(cfg.grid_size ** 2 + 1,
                                                                     width))
        self.temporal_positional_embedding = nn.Parameter(
            torch.zeros(1, cfg.num_frames // k, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, cfg.vision_layers, cfg.vision_heads,
                                       cfg.vision_mlp_ratio, cfg.drop_path_rate)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, cfg.embed_dim))
        _init_clip_blocks(self.transformer, width, cfg.vision_layers)

    def _mask_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Keep a random (1 - token_mask_ratio) share of the patch tokens of each sample."""
        B, N, C = x.shape
        keep = max(1, int(round(N * (1.0 - self.cfg.token_mask_ratio))))
        idx = torch.rand(B, N, device=x.device).argsort(dim=1)[:, :keep]  # (B, keep)
        return x.gather(1, idx[..., None].expand(B, keep, C))  # (B, keep, C)

    def forward(self, frames: torch.Tensor, project: bool = True) -> torch.Tensor:
        """frames (B, T, 3, H, W) normalized -> (B, embed_dim), or (B, width) if not project."""
        cfg = self.cfg
        if frames.ndim != 5 or frames.shape[2] != 3:
            raise ValueError(f"video must be (B, T, 3, H, W), got {tuple(frames.shape)}")
        if frames.shape[1] not in (cfg.num_frames, cfg.tubelet_size):
            raise ValueError(f"the encoder takes {cfg.num_frames} frames per clip, got "
                             f"{frames.shape[1]}: sample them with sample_frame_indices()")
        if tuple(frames.shape[-2:]) != (cfg.image_size, cfg.image_size):
            raise ValueError(f"frames must be {cfg.image_size}x{cfg.image_size}, got "
                             f"{tuple(frames.shape[-2:])}: use Recognizer.preprocess()")
        x = frames.permute(0, 2, 1, 3, 4)  # (B, 3, T, H, W)
        x = self.conv1(x.to(self.conv1.weight.dtype))  # (B, C, T', g, g)
        B, C, Tp, gh, gw = x.shape
        x = x.permute(0, 2, 3, 4, 1).reshape(B, Tp, gh * gw, C)  # (B, T', L, C)
        x = x + self.positional_embedding[1:]  # spatial position of each patch, (L, C)
        if Tp == 1 and self.temporal_positional_embedding.shape[1] > 1:
            x = x + self.temporal_positional_embedding.mean(dim=1)  # single frame, as ViCLIP
        else:
            x = x + self.temporal_positional_embedding[0, :, None, :]  # (T', 1, C)
        x = x.transpose(1, 2).reshape(B, gh * gw * Tp, C)  # (B, L*T', C), patch-major
        if self.training and cfg.token_mask_ratio > 0:
            x = self._mask_tokens(x)  # (B, keep, C)
        cls = (self.class_embedding + self.positional_embedding[0]).expand(B, 1, C)
        x = torch.cat([cls, x], dim=1)  # (B, 1 + L*T', C)
        x = self.transformer(self.ln_pre(x))
        feat = self.ln_post(x[:, 0])  # (B, C), CLS
        return feat @ self.proj if project else feat


class TextEncoder(nn.Module):
    """transformers' CLIPTextModel + projection of the EOT-token feature."""

    def __init__(self, cfg: RecognizerConfig):
        super().__init__()
        hf_cfg = CLIPTextConfig(
            vocab_size=cfg.vocab_size, hidden_size=cfg.text_width,
            intermediate_size=int(cfg.text_width * cfg.text_mlp_ratio),
            num_hidden_layers=cfg.text_layers, num_attention_heads=cfg.text_heads,
            max_position_embeddings=cfg.context_length, hidden_act="quick_gelu",
            layer_norm_eps=1e-5, projection_dim=cfg.embed_dim, pad_token_id=0,
            bos_token_id=SOT_ID, eos_token_id=EOT_ID)
        self.hf = CLIPTextModel(hf_cfg)
        self.text_projection = nn.Parameter(cfg.text_width ** -0.5
                                            * torch.randn(cfg.text_width, cfg.embed_dim))
        self.context_length = cfg.context_length

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        """token_ids (B, L) with L <= context_length -> (B, embed_dim)."""
        if token_ids.ndim != 2 or token_ids.shape[1] > self.context_length:
            raise ValueError(f"token ids must be (B, L<={self.context_length}), got "
                             f"{tuple(token_ids.shape)}")
        h = self.hf(input_ids=token_ids).last_hidden_state  # (B, L, W), after final LN
        eot = token_ids.argmax(dim=-1)  # EOT has the largest id in each row
        return h[torch.arange(h.shape[0], device=h.device), eot] @ self.text_projection


def _init_clip_blocks(transformer: Transformer, width: int, layers: int) -> None:
    """CLIP's initialization of residual blocks (std shrinks with depth on the out branches)."""
    attn_std = width ** -0.5
    proj_std = attn_std * (2 * layers) ** -0.5
    fc_std = (2 * width) ** -0.5
    for block in transformer.resblocks:
        nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
        nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
        nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
        nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)


def sample_frame_indices(num_total: int, num_frames: int) -> np.ndarray:
    """``num_frames`` indices spread evenly over a video of ``num_total`` frames (first and
    last included; repeats when the video is shorter)."""
    if num_total < 1:
        raise ValueError("the video has no frames")
    return np.linspace(0, num_total - 1, num_frames).round().astype(np.int64)


def caption_ids(token_ids: torch.Tensor) -> torch.Tensor:
    """An id per row of token ids, equal for equal captions and the same in every process."""
    powers = torch.full((token_ids.shape[1],), 1_000_003, dtype=torch.long,
                        device=token_ids.device).cumprod(dim=0)  # wraps mod 2^64: fine
    return (token_ids.long() * powers).sum(dim=1)


class Recognizer(nn.Module):
    """Video-text model for action understanding (ViCLIP architecture).

    ``forward(frames, texts, targets=None) -> (loss, logs)`` is the one training/eval path;
    ``recognize(frames, candidates)`` picks captions; ``video_feature(frames)`` is u.
    """

    def __init__(self, config: RecognizerConfig):
        super().__init__()
        if not isinstance(config, RecognizerConfig):
            raise TypeError("Recognizer needs a RecognizerConfig (see make_recognizer_config)")
        self.config = config
        self.vision_encoder = VideoEncoder(config)
        self.text_encoder = TextEncoder(config)
        self.temp = nn.Parameter(torch.tensor(float(config.temp_init)),
                                 requires_grad=config.learn_temp)
        self.register_buffer("pixel_mean", torch.tensor(config.pixel_mean).view(3, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(config.pixel_std).view(3, 1, 1),
                             persistent=False)
        self._tokenizer: ClipTokenizer | None = None

    # ----- inputs ---------------------------------------------------------------------------
    @property
    def tokenizer(self) -> ClipTokenizer:
        if self._tokenizer is None:
            self._tokenizer = get_tokenizer(self.config.context_length)
        return self._tokenizer

    def tokenize(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Captions -> token ids (B, context_length) on the model's device."""
        return self.tokenizer(texts).to(self.temp.device)

    def preprocess(self, frames) -> torch.Tensor:
        """uint8 RGB video (B, T, H, W, 3) or (T, H, W, 3), tensor or array -> float
        (B, T, 3, S, S): scaled to [0, 1], resized to image_size (bilinear, antialiased),
        normalized with the config's pixel mean/std."""
        x = torch.as_tensor(np.asarray(frames)) if isinstance(frames, np.ndarray) else frames
        if x.dtype != torch.uint8:
            raise TypeError(f"preprocess() takes uint8 frames, got {x.dtype}")
        if x.ndim == 4:
            x = x[None]
        if x.ndim != 5 or x.shape[-1] != 3:
            raise ValueError(f"uint8 video must be (B, T, H, W, 3), got {tuple(x.shape)}")
        B, T, H, W, _ = x.shape
        x = x.to(self.pixel_mean.device).permute(0, 1, 4, 2, 3).reshape(B * T, 3, H, W)
        x = x.float() / 255.0  # (B*T, 3, H, W)
        S = self.config.image_size
        if (H, W) != (S, S):
            x = F.interpolate(x, size=(S, S), mode="bilinear", align_corners=False,
                              antialias=True)
        x = (x - self.pixel_mean) / self.pixel_std
        return x.reshape(B, T, 3, S, S)

    def _as_video(self, frames) -> torch.Tensor:
        if isinstance(frames, np.ndarray) or (isinstance(frames, torch.Tensor)
                                              and frames.dtype == torch.uint8):
            return self.preprocess(frames)
        if not isinstance(frames, torch.Tensor):
            raise TypeError(f"frames must be a tensor or array, got {type(frames).__name__}")
        return frames.to(self.temp.device)

    def _as_tokens(self, texts) -> torch.Tensor:
        if isinstance(texts, torch.Tensor):
            if texts.dtype not in (torch.int32, torch.int64):
                raise TypeError(f"token ids must be int32/int64, got {texts.dtype}")
            return texts.to(self.temp.device).long()
        if isinstance(texts, str):
            raise TypeError("pass a list of captions, not a single string")
        return self.tokenize(list(texts))

    # ----- embeddings -----------------------------------------------------------------------
    def embed_video(self, frames, project: bool = True) -> torch.Tensor:
        """Video embedding (B, embed_dim) (unnormalized); ``project=False`` gives the CLS
        feature before the projection (B, vision_width). Accepts normalized float
        (B, T, 3, H, W) or uint8 (B, T, H, W, 3)."""
        return self.vision_encoder(self._as_video(frames), project=project)

    def video_feature(self, frames) -> torch.Tensor:
        """u for the mirror alignment: the projected CLS embedding (B, embed_dim)."""
        return self.embed_video(frames, project=True)

    def embed_text(self, texts) -> torch.Tensor:
        """Caption embeddings (B, embed_dim) from a list of strings or token ids (B, L)."""
        return self.text_encoder(self._as_tokens(texts))

    def temperature(self) -> torch.Tensor:
        """The logit temperature, clamped in place to >= temp_min first (as ViCLIP)."""
        with torch.no_grad():
            self.temp.clamp_(min=self.config.temp_min)
        return self.temp

    # ----- training / evaluation ------------------------------------------------------------
    def loss(self, video_emb: torch.Tensor, text_emb: torch.Tensor,
             targets) -> tuple[torch.Tensor, dict[str, float]]:
        """Video-text contrastive loss; samples with equal ``targets`` (caption / instruction
        ids: ints, or labels such as strings) are positives. Returns the loss and logs
        (recognizer/loss, .../loss_v2t, .../loss_t2v, .../acc_v2t, .../acc_t2v, .../temp)."""
        out = bidirectional_contrastive_loss(
            video_emb, text_emb, targets, self.temperature(),
            positives=self.config.positives, gather=self.config.gather_distributed)
        logs = {
            "recognizer/loss": float(out.loss.detach()),
            "recognizer/loss_v2t": float(out.loss_ab.detach()),
            "recognizer/loss_t2v": float(out.loss_ba.detach()),
            "recognizer/acc_v2t": float(out.recall_ab),
            "recognizer/acc_t2v": float(out.recall_ba),
            "recognizer/temp": float(self.temp.detach()),
        }
        return out.loss, logs

    def forward(self, frames, texts, targets=None
                ) -> tuple[torch.Tensor, dict[str, float]]:
        """Contrastive loss of a batch of (video, caption) pairs.

        Args:
            frames: (B, T, 3, H, W) normalized float or (B, T, H, W, 3) uint8.
            texts: B captions or their token ids (B, L).
            targets: (B,) caption/instruction ids or labels; equal ones are positives.
                Default: ids of the token rows, so identical captions are positives.
        """
        tokens = self._as_tokens(texts)
        if targets is None:
            targets = caption_ids(tokens)
        return self.loss(self.embed_video(frames), self.text_encoder(tokens), targets)

    @torch.no_grad()
    def recognize(self, frames, candidates) -> tuple[torch.Tensor, torch.Tensor]:
        """Pick the candidate caption most similar (cosine) to each video.

        Args:
            frames: a batch of videos (see ``forward``).
            candidates: K captions, their token ids (K, L), or text embeddings (K, embed_dim)
                (float) computed once with ``embed_text``.
        Returns:
            indices (B,) into candidates and scores (B, K) cosine similarities.
        """
        if isinstance(candidates, torch.Tensor) and candidates.is_floating_point():
            text = candidates.to(self.temp.device)
        else:
            text = self.embed_text(candidates)
        scores = (F.normalize(self.embed_video(frames).float(), dim=-1)
                  @ F.normalize(text.float(), dim=-1).T)  # (B, K)
        return scores.argmax(dim=1), scores

    # ----- checkpoints ----------------------------------------------------------------------
    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        """Write config.json and model.safetensors into ``folder`` (replaced atomically)."""
        from safetensors.torch import save_file

        def write(tmp: Path) -> None:
            (tmp / CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=2))
            state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
            save_file(state, str(tmp / WEIGHTS_NAME))
        return atomic_folder(Path(folder), write)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> "Recognizer":
        """Rebuild a model written by :meth:`save_pretrained` (nothing else needed)."""
        from safetensors.torch import load_file
        folder = Path(folder)
        if not (folder / CONFIG_NAME).is_file() or not (folder / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(f"{folder} needs {CONFIG_NAME} and {WEIGHTS_NAME} "
                                    "(written by Recognizer.save_pretrained)")
        config = RecognizerConfig.from_dict(json.loads((folder / CONFIG_NAME).read_text()))
        model = cls(config)
        model.load_state_dict(load_file(str(folder / WEIGHTS_NAME)), strict=True)
        return model


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


if __name__ == "__main__":
    from mn_models.recognizer.config import make_recognizer_config
    torch.manual_seed(0)
    model = Recognizer(make_recognizer_config("tiny")).eval()
    video = torch.randint(0, 256, (2, 8, 48, 48, 3), dtype=torch.uint8)
    captions = ["open the top drawer", "open the bottom drawer", "turn left tap"]
    idx, scores = model.recognize(video, captions)
    print("u:", tuple(model.video_feature(video).shape), "picks:", idx.tolist())
    print("scores:", scores)
