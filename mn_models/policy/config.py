"""Configuration of the ARP-style policy (MVT backbone + chunking causal transformer).

Two presets: ``tiny`` (trains on a laptop CPU) and ``arp_rlbench`` (the published ARP size,
71.9M parameters without the text encoder). ``make_policy_config(name, **overrides)``
builds one and names any unknown key.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mn_models.config_keys import check_keys
from mn_sim.types import CAMERAS

VIEW_NAMES = ("top", "front", "right", "left", "back")


@dataclass
class PolicyConfig:
    """ARP policy hyper-parameters.

    Args:
        name: preset name, kept in checkpoints.
        cameras: input cameras (batch keys ``{cam}_rgb`` ...).
        scene_bounds: workspace [x_min, y_min, z_min, x_max, y_max, z_max] in metres; points
            outside are dropped, the cube [-1, 1]^3 the views look at is fitted to it.
        views: orthographic virtual views rendered from the fused cloud.
        img_size: virtual view resolution S (pixels per side).
        point_splat: each point also paints pixels within this Chebyshev radius (0 = only its
            own pixel); fills holes when the cloud is sparser than the view (RVT splats too).
        patch_size: MVT patch size; S / patch_size tokens per side.
        im_channels: patch-embedding channels (proprio adds as many again).
        attn_dim, attn_heads, attn_dim_head, depth, attn_dropout: MVT transformer; the first
            ``depth // 2`` layers attend within each view, the rest across views + language.
        proprio_dim: proprio size ([gripper_open, finger 1, finger 2]).
        vocab_size, lang_dim, lang_max_len, text_layers, text_heads, pad_token_id: the
            policy's own small text encoder (token embedding + transformer) over CLIP BPE ids.
        coarse_to_fine: RVT-2 second stage (zoom around the stage-1 point, second MVT).
        stage2_zoom: zoom factor of stage 2.
        stage2_center_noise: half-width (cube units) of the uniform noise added to the
            ground-truth stage-1 point used as the stage-2 centre in training (ARP: 2 x 0.05).
        policy_dim, policy_heads, policy_cross_layers, policy_self_layers, policy_mlp_ratio,
        policy_dropout: the chunking causal transformer (cross layers: AdaLN-conditioned on a
            view's tokens, predict the heatmaps; self layers: decode rotation/gripper tokens).
        upsample_hidden_mult: width multiplier of the convex-upsampling heatmap head.
        num_rotation_bins: bins per Euler angle (72 = 5 degrees).
        rotation_jitter_probs: probabilities of the bin offsets -k..k added to the rotation
            input tokens in training (odd length, centred on 0).
        heatmap_sigma: std (pixels) of the Gaussian heatmap targets.
        augment: SE(3) augmentation in training.
        aug_translation: max |translation| per axis (metres).
        aug_yaw_deg: max |yaw| (degrees) about the z axis through ``aug_pivot``.
        aug_pivot: "center" (workspace centre) or "target" (PerAct's action-centric pivot).
        aug_max_tries: resampling attempts before falling back to no perturbation.
    """
    name: str = "custom"
    cameras: tuple = tuple(CAMERAS)
    scene_bounds: tuple = (-0.3, -0.5, 0.6, 0.7, 0.5, 1.6)
    views: tuple = ("top", "front", "right")
    img_size: int = 224
    point_splat: int = 1
    # MVT
    patch_size: int = 14
    im_channels: int = 64
    attn_dim: int = 512
    attn_heads: int = 8
    attn_dim_head: int = 64
    depth: int = 8
    attn_dropout: float = 0.1
    proprio_dim: int = 3
    # text encoder
    vocab_size: int = 49408
    lang_dim: int = 512
    lang_max_len: int = 77
    text_layers: int = 2
    text_heads: int = 8
    pad_token_id: int = 0
    # coarse-to-fine
    coarse_to_fine: bool = True
    stage2_zoom: float = 4.0
    stage2_center_noise: float = 0.1
    # chunking causal transformer
    policy_dim: int = 128
    policy_heads: int = 8
    policy_cross_layers: int = 4
    policy_self_layers: int = 4
    policy_mlp_ratio: float = 4.0
    policy_dropout: float = 0.1
    upsample_hidden_mult: float = 1.25
    num_rotation_bins: int = 72
    rotation_jitter_probs: tuple = (0.1, 0.2, 0.4, 0.2, 0.1)
    heatmap_sigma: float = 1.5
    # augmentation
    augment: bool = True
    aug_translation: tuple = (0.125, 0.125, 0.125)
    aug_yaw_deg: float = 45.0
    aug_pivot: str = "center"
    aug_max_tries: int = 10

    def __post_init__(self):
        self.cameras = tuple(self.cameras)
        self.views = tuple(self.views)
        self.scene_bounds = tuple(float(b) for b in self.scene_bounds)
        self.aug_translation = tuple(float(t) for t in self.aug_translation)
        self.rotation_jitter_probs = tuple(float(p) for p in self.rotation_jitter_probs)
        errors = []
        if not self.cameras:
            errors.append("cameras is empty: give at least one camera name")
        if len(self.scene_bounds) != 6 or any(
                self.scene_bounds[i] >= self.scene_bounds[i + 3] for i in range(3)):
            errors.append(f"scene_bounds must be [x_min, y_min, z_min, x_max, y_max, z_max] "
                          f"with min < max; got {self.scene_bounds}")
        bad_views = [v for v in self.views if v not in VIEW_NAMES]
        if bad_views or not self.views or len(set(self.views)) != len(self.views):
            errors.append(f"views must be distinct names from {VIEW_NAMES}; got {self.views}")
        if self.img_size <= 0 or self.patch_size <= 0 or self.img_size % self.patch_size:
            errors.append(f"img_size ({self.img_size}) must be a positive multiple of "
                          f"patch_size ({self.patch_size})")
        if self.point_splat < 0:
            errors.append(f"point_splat must be >= 0; got {self.point_splat}")
        if self.im_channels % 4 or self.im_channels <= 0:
            errors.append(f"im_channels must be a positive multiple of 4 (GroupNorm(4)); got "
                          f"{self.im_channels}")
        if self.depth < 2 or self.depth % 2:
            errors.append(f"depth must be even and >= 2 (half within-view, half across); "
                          f"got {self.depth}")
        if self.lang_dim % self.text_heads:
            errors.append(f"lang_dim ({self.lang_dim}) must be divisible by text_heads "
                          f"({self.text_heads})")
        if self.policy_dim % self.policy_heads or self.policy_dim % 2:
            errors.append(f"policy_dim ({self.policy_dim}) must be even and divisible by "
                          f"policy_heads ({self.policy_heads})")
        if self.policy_cross_layers < 1 or self.policy_self_layers < 1:
            errors.append("policy_cross_layers and policy_self_layers must be >= 1")
        if self.num_rotation_bins <= 0 or 360 % self.num_rotation_bins:
            errors.append(f"num_rotation_bins must divide 360; got {self.num_rotation_bins}")
        p = self.rotation_jitter_probs
        if len(p) % 2 == 0 or any(x < 0 for x in p) or abs(sum(p) - 1.0) > 1e-6:
            errors.append(f"rotation_jitter_probs must have odd length, be >= 0 and sum to 1; "
                          f"got {p}")
        if self.stage2_zoom < 1.0:
            errors.append(f"stage2_zoom must be >= 1; got {self.stage2_zoom}")
        if self.aug_pivot not in ("center", "target"):
            errors.append(f"aug_pivot must be 'center' or 'target'; got {self.aug_pivot!r}")
        if len(self.aug_translation) != 3:
            errors.append(f"aug_translation needs 3 numbers; got {self.aug_translation}")
        if self.heatmap_sigma <= 0:
            errors.append(f"heatmap_sigma must be > 0; got {self.heatmap_sigma}")
        if errors:
            raise ValueError("invalid PolicyConfig: " + "; ".join(errors))

    @property
    def num_patches(self) -> int:
        """Tokens per view side."""
        return self.img_size // self.patch_size

    @property
    def rotation_resolution(self) -> float:
        """Degrees per rotation bin."""
        return 360.0 / self.num_rotation_bins

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "PolicyConfig":
        check_keys(d, cls, "PolicyConfig")
        return cls(**d)


PRESETS: dict[str, dict] = {
    # Published ARP (RLBench): MVT 224 px / patch 14 / dim 512 / depth 8 / 8x64 heads, two
    # stages, chunking causal transformer 128-d, 8 heads, 4 cross + 4 self layers.
    "arp_rlbench": dict(name="arp_rlbench"),
    # CPU-trainable: 64 px views, 8 px patches, 4-layer 128-d MVT, one stage.
    "tiny": dict(
        name="tiny", img_size=64, point_splat=0, patch_size=8, im_channels=32, attn_dim=128,
        attn_heads=4, attn_dim_head=32, depth=4, lang_dim=64, text_layers=1, text_heads=4,
        coarse_to_fine=False, policy_dim=64, policy_heads=4, policy_cross_layers=2,
        policy_self_layers=2,
        # No SE(3) augmentation at this scale: measured on 3 tasks x 80 demos, 2000 steps
        # (README "Results"): without it 27% rollout success, with +-5 cm translation 7%, with
        # ARP's +-12.5 cm / +-45 deg the first keyframe stays at the mean-predictor error after
        # 1000+ steps. Augmentation pays off over ARP's 100k-step schedule, not in CPU minutes.
        augment=False),
    # Between tiny and ARP: tiny's inputs (64 px views, so the training view cache is shared)
    # with a 6-layer 256-d MVT and a 128-d action decoder (14.9M parameters against tiny's
    # 4.8M). For the study's model-size measurement.
    "small": dict(
        name="small", img_size=64, point_splat=0, patch_size=8, im_channels=64, attn_dim=256,
        attn_heads=8, attn_dim_head=32, depth=6, lang_dim=128, text_layers=1, text_heads=4,
        coarse_to_fine=False, policy_dim=128, policy_heads=4, policy_cross_layers=2,
        policy_self_layers=2, augment=False),
}


def make_policy_config(name: str = "tiny", **overrides) -> PolicyConfig:
    """Preset ``name`` ("tiny", "small" or "arp_rlbench") with ``overrides`` applied."""
    if name not in PRESETS:
        raise KeyError(f"unknown policy config {name!r}; choose one of {sorted(PRESETS)}")
    check_keys(overrides, PolicyConfig, f"policy config ({name!r} preset)")
    return PolicyConfig(**{**PRESETS[name], **overrides})


__all__ = ["PolicyConfig", "PRESETS", "make_policy_config", "VIEW_NAMES"]
