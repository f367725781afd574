"""Configuration of the action-understanding model (ViCLIP-style video-text recognizer).

``make_recognizer_config("tiny", image_size=64)`` builds a named preset with overrides.
Presets: ``tiny`` (trains on a CPU in minutes), ``small`` (twice its widths and vision depth),
``viclip_b16`` and ``viclip_l14`` (the published ViCLIP shapes; load their weights with
``viclip_loader.load_viclip_checkpoint``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from mn_models.config_keys import check_keys
from mn_models.recognizer.tokenizer import DEFAULT_CONTEXT_LENGTH, VOCAB_SIZE

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# ViCLIP's released inference code (InternVid viclip/__init__.py, frames2tensor) normalizes
# frames with ImageNet statistics, not CLIP's: the viclip_* presets use these.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

POSITIVE_MODES = ("soft", "lse")


@dataclass
class RecognizerConfig:
    """Shapes and training options of a :class:`~mn_models.recognizer.model.Recognizer`.

    Args:
        name: preset name this config came from (informational; saved with checkpoints).
        image_size: square input resolution in pixels; frames are resized to it.
        patch_size: spatial patch size of the Conv3d patch embedding; divides image_size.
        num_frames: frames per clip (length of the learned temporal positional embedding).
            Videos must have exactly this many frames (a single frame is also accepted).
        tubelet_size: temporal kernel and stride of the patch embedding (ViCLIP: 1).
        vision_width: transformer width of the video encoder.
        vision_layers: number of residual attention blocks of the video encoder.
        vision_heads: attention heads of the video encoder; divides vision_width.
        vision_mlp_ratio: hidden size of each MLP as a multiple of the width.
        embed_dim: dimension D of the joint video-text embedding (output of both projections).
        context_length: text positions (ViCLIP: 32); longer captions are truncated.
        vocab_size: text vocabulary size (CLIP BPE: 49408).
        text_width: width of the CLIP text transformer.
        text_layers: number of text transformer layers.
        text_heads: attention heads of the text transformer; divides text_width.
        text_mlp_ratio: text MLP hidden size as a multiple of text_width.
        temp_init: initial logit temperature (ViCLIP: 0.01); logits are cos / temp.
        temp_min: the temperature is clamped to at least this before each use (ViCLIP clamps
            at 0.01, which with temp_init 0.01 means it can only grow).
        learn_temp: whether the temperature is a trained parameter.
        drop_path_rate: stochastic-depth rate of the last video block (linear from 0).
        token_mask_ratio: fraction of video patch tokens dropped at random in training mode
            (ViCLIP pre-training used 0.9; 0 disables it; never applied in eval mode).
        pixel_mean: per-channel mean used to normalize uint8 frames (RGB, in [0, 1] units).
        pixel_std: per-channel std used to normalize uint8 frames.
        positives: how samples sharing a caption id count as positives in the contrastive
            loss: "soft" (targets spread evenly over positives, as ViCLIP) or "lse"
            (log of the summed probability of all positives).
        gather_distributed: under an initialized torch.distributed group, contrast against
            the embeddings of the whole global batch (gradients flow back to each rank).
    """

    name: str = "custom"
    image_size: int = 224
    patch_size: int = 16
    num_frames: int = 8
    tubelet_size: int = 1
    vision_width: int = 768
    vision_layers: int = 12
    vision_heads: int = 12
    vision_mlp_ratio: float = 4.0
    embed_dim: int = 512
    context_length: int = DEFAULT_CONTEXT_LENGTH
    vocab_size: int = VOCAB_SIZE
    text_width: int = 512
    text_layers: int = 12
    text_heads: int = 8
    text_mlp_ratio: float = 4.0
    temp_init: float = 0.01
    temp_min: float = 0.01
    learn_temp: bool = True
    drop_path_rate: float = 0.0
    token_mask_ratio: float = 0.0
    pixel_mean: tuple[float, float, float] = field(default=CLIP_MEAN)
    pixel_std: tuple[float, float, float] = field(default=CLIP_STD)
    positives: str = "soft"
    gather_distributed: bool = True

    def __post_init__(self):
        self.pixel_mean = tuple(float(x) for x in self.pixel_mean)
        self.pixel_std = tuple(float(x) for x in self.pixel_std)
        positive_ints = ("image_size", "patch_size", "num_frames", "tubelet_size",
                         "vision_width", "vision_layers", "vision_heads", "embed_dim",
                         "context_length", "vocab_size", "text_width", "text_layers",
                         "text_heads")
        for key in positive_ints:
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"RecognizerConfig.{key} must be a positive int, got {value!r}")
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size "
                             f"{self.patch_size}: pick sizes that divide evenly")
        if self.num_frames % self.tubelet_size:
            raise ValueError(f"num_frames {self.num_frames} is not a multiple of tubelet_size "
                             f"{self.tubelet_size}")
        for width, heads in (("vision_width", "vision_heads"), ("text_width", "text_heads")):
            if getattr(self, width) % getattr(self, heads):
                raise ValueError(f"{width}={getattr(self, width)} is not divisible by "
                                 f"{heads}={getattr(self, heads)}")
        if self.context_length < 2:
            raise ValueError("context_length must be >= 2 (room for SOT and EOT)")
        if self.vocab_size < VOCAB_SIZE:
            raise ValueError(f"vocab_size {self.vocab_size} is smaller than CLIP's BPE "
                             f"vocabulary ({VOCAB_SIZE})")
        for key in ("vision_mlp_ratio", "text_mlp_ratio", "temp_init", "temp_min"):
            if not getattr(self, key) > 0:
                raise ValueError(f"RecognizerConfig.{key} must be > 0, got {getattr(self, key)}")
        if self.temp_init < self.temp_min:
            raise ValueError(f"temp_init {self.temp_init} is below temp_min {self.temp_min}")
        if not 0.0 <= self.drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1), got {self.drop_path_rate}")
        if not 0.0 <= self.token_mask_ratio < 1.0:
            raise ValueError(f"token_mask_ratio must be in [0, 1), got {self.token_mask_ratio}")
        if len(self.pixel_mean) != 3 or len(self.pixel_std) != 3 or min(self.pixel_std) <= 0:
            raise ValueError("pixel_mean and pixel_std need 3 values (RGB), std > 0")
        if self.positives not in POSITIVE_MODES:
            raise ValueError(f"positives must be one of {POSITIVE_MODES}, got {self.positives!r}")

    @property
    def grid_size(self) -> int:
        """Patches per side."""
        return self.image_size // self.patch_size

    def to_dict(self) -> dict:
        """Plain-JSON form (saved next to weights so a checkpoint rebuilds its model)."""
        d = dataclasses.asdict(self)
        d["pixel_mean"], d["pixel_std"] = list(self.pixel_mean), list(self.pixel_std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RecognizerConfig":
        """Inverse of :meth:`to_dict`; an unknown key is an error that names it."""
        check_keys(d, cls, "RecognizerConfig")
        return cls(**d)


RECOGNIZER_PRESETS: dict[str, dict] = {
    # 32x32 frames, 4x4 patches x 8 frames = 128 tokens + CLS: a few ms per clip on a CPU.
    # Trained from scratch, so CLIP's from-scratch temperature 0.07 (ViCLIP's 0.01 is for
    # fine-tuning pretrained towers; from scratch it collapsed the embeddings in our runs).
    "tiny": dict(image_size=32, patch_size=8, num_frames=8, vision_width=64, vision_layers=2,
                 vision_heads=4, embed_dim=64, text_width=64, text_layers=2, text_heads=4,
                 temp_init=0.07),
    # Between tiny and ViCLIP: 64 px frames (the study's input), twice tiny's widths and vision
    # depth (7.6M parameters against tiny's 3.4M at 64 px). For the study's model-size measurement.
    "small": dict(image_size=64, patch_size=8, num_frames=8, vision_width=128, vision_layers=4,
                  vision_heads=4, embed_dim=128, text_width=128, text_layers=2, text_heads=4,
                  temp_init=0.07),
    "viclip_b16": dict(image_size=224, patch_size=16, num_frames=8, vision_width=768,
                       vision_layers=12, vision_heads=12, embed_dim=512, text_width=512,
                       text_layers=12, text_heads=8, pixel_mean=IMAGENET_MEAN,
                       pixel_std=IMAGENET_STD),
    "viclip_l14": dict(image_size=224, patch_size=14, num_frames=8, vision_width=1024,
                       vision_layers=24, vision_heads=16, embed_dim=768, text_width=768,
                       text_layers=12, text_heads=12, pixel_mean=IMAGENET_MEAN,
                       pixel_std=IMAGENET_STD),
}


def make_recognizer_config(name: str, **overrides) -> RecognizerConfig:
    """The preset ``name`` with ``overrides`` applied; a bad name or key is named in the error."""
    if name not in RECOGNIZER_PRESETS:
        raise KeyError(f"unknown recognizer preset {name!r}; choose one of "
                       f"{sorted(RECOGNIZER_PRESETS)}")
    check_keys(overrides, RecognizerConfig, "recognizer config")
    return RecognizerConfig(**{"name": name, **RECOGNIZER_PRESETS[name], **overrides})
