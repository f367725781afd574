"""The policy's code path as it was before the speed work of issue 9, kept for two uses only:
the equality tests (the fast path computes the same numbers on any input) and the baseline
of `mn bench train` (the speed-up is measured against it in the same run, on the same inputs
and threads). Delete it when both are retired.

Differences from the current path, each restored here: the z-buffer renderer that
transforms every point for every view (``render_views_pre_issue9``), the language padded to
the tokenizer's 77 positions, the chunking transformer's masks rebuilt on every call, a
separate teacher-forced pass after decoding, SDPA's
own attention dropout, pre-rendered views ignored, and (for the trainer's step)
``torch.optim.AdamW`` with its default per-tensor loop.
"""
from __future__ import annotations

import torch

from mn_models.policy import constants as K
from mn_models.policy.arp import ARPPolicy
from mn_models.policy.mvt import Attention
from mn_models.policy.pointcloud import pixel_location_channels, view_frames


@torch.no_grad()
def render_views_pre_issue9(points: torch.Tensor, colors: torch.Tensor,
                            valid: torch.Tensor, img_size: int, views=("top", "front", "right"),
                            splat: int = 0) -> torch.Tensor:
    """Z-buffered orthographic rendering of cube-frame clouds.

    points (B, N, 3) in cube coordinates (points outside [-1, 1]^3 are not drawn);
    colors (B, N, 3) in [0, 1]; valid (B, N) bool. ``splat`` > 0 also paints the pixels within
    that Chebyshev radius (the nearest point still wins; its own pixel breaks ties).
    Returns (B, V, 10, S, S) images (channels in the module doc).
    """
    B, N, _ = points.shape
    S, dev = img_size, points.device
    R = view_frames(views, points.dtype, dev)                     # (V, 3, 3)
    V = R.shape[0]
    cam = torch.einsum("vij,bnj->bvni", R, points)                # (B, V, N, 3)
    ok = valid[:, None, :] & (cam.abs() <= 1.0).all(-1)           # (B, V, N)
    b_i, v_i, n_i = ok.nonzero(as_tuple=True)                     # (M,) drawable entries
    cam = cam[b_i, v_i, n_i]                                      # (M, 3)
    pix = torch.floor((cam[:, :2] + 1.0) * (S / 2.0)).long().clamp_(0, S - 1)  # (M, 2)

    r = int(splat)
    offs = torch.arange(-r, r + 1, device=dev)
    dy, dx = torch.meshgrid(offs, offs, indexing="ij")
    dx, dy = dx.reshape(-1), dy.reshape(-1)                       # (Kk,)
    col = pix[:, 0:1] + dx                                        # (M, Kk)
    row = pix[:, 1:2] + dy
    ok_k = (col >= 0) & (col < S) & (row >= 0) & (row < S)
    depth_k = cam[:, 2:3] + 1e-5 * (dx * dx + dy * dy).to(cam.dtype)  # own pixel wins ties

    dump = B * V * S * S
    key = (((b_i * V + v_i)[:, None] * S + row) * S + col)        # (M, Kk)
    key = torch.where(ok_k, key, torch.full_like(key, dump)).reshape(-1)
    depth_k = depth_k.reshape(-1)
    zbuf = torch.full((dump + 1,), float("inf"), dtype=cam.dtype, device=dev)
    zbuf.scatter_reduce_(0, key, depth_k, reduce="amin", include_self=True)
    is_min = (depth_k == zbuf[key]) & (key != dump)
    gidx = (b_i * N + n_i)[:, None].expand(-1, dx.numel()).reshape(-1)
    winner = torch.full((dump + 1,), -1, dtype=torch.long, device=dev)
    winner.scatter_reduce_(0, key[is_min], gidx[is_min], reduce="amax", include_self=True)
    winner = winner[:dump].reshape(B, V, S, S)
    filled = winner >= 0

    feats = torch.cat([colors.to(points.dtype), points], -1).reshape(B * N, 6)
    img = feats[winner.clamp_min(0)] * filled[..., None]          # (B, V, S, S, 6)
    z = zbuf[:dump].reshape(B, V, S, S) + 1.0                     # depth in [0, 2]
    z = torch.where(filled, z, torch.zeros_like(z))
    n_filled = filled.sum((-1, -2)).clamp_min(1)
    z_mean = z.sum((-1, -2)) / n_filled                           # (B, V)
    z = torch.where(filled, z - z_mean[..., None, None], torch.full_like(z, -1.0))

    img = torch.cat([img.permute(0, 1, 4, 2, 3), z[:, :, None]], 2)  # (B, V, 7, S, S)
    loc = pixel_location_channels(V, S, dev).to(img.dtype)
    return torch.cat([img, loc[None].expand(B, -1, -1, -1, -1)], 2)  # (B, V, 10, S, S)


class BaselineARPPolicy(ARPPolicy):
    """ARPPolicy computing through the pre-issue-9 code path (same modules and weights)."""

    def __init__(self, cfg):
        super().__init__(cfg)
        for m in self.modules():
            if isinstance(m, Attention):
                m.fast_dropout = False

    @classmethod
    def from_policy(cls, policy: ARPPolicy) -> "BaselineARPPolicy":
        base = cls(policy.cfg)
        base.load_state_dict(policy.state_dict())
        return base.train(policy.training)

    def encode_language(self, batch, lang_feats=None, lang_mask=None):
        if lang_feats is not None:
            if lang_mask is None:
                lang_mask = torch.ones(lang_feats.shape[:2], dtype=torch.bool,
                                       device=lang_feats.device)
            return lang_feats, lang_mask.bool()
        tokens = batch[K.LANG_TOKENS].long()
        mask = batch.get(K.LANG_MASK)
        mask = (tokens != self.cfg.pad_token_id) if mask is None else mask.bool()
        return self.text_encoder(tokens, mask), mask

    def _render(self, cube_pts, cols, valid):
        c = self.cfg
        return render_views_pre_issue9(cube_pts, cols, valid, c.img_size, c.views,
                                       c.point_splat)

    def heatmap_logits(self, featmap, stage):
        self.cct._layouts.clear()
        return super().heatmap_logits(featmap, stage)

    def _run_self(self, tokens):
        self.cct._layouts.clear()
        return super()._run_self(tokens)

    def decode_action(self, prompt):
        rot, grip, coll = self.decode(prompt)
        logits, e = self.teacher_forced(prompt, rot, grip, coll)
        return rot, grip, coll, logits, e

    def forward(self, batch, lang_feats=None, lang_mask=None):
        return super().forward({k: v for k, v in batch.items() if k != K.VIEWS},
                               lang_feats, lang_mask)

    def predict(self, batch, lang_feats=None, lang_mask=None):
        return super().predict({k: v for k, v in batch.items() if k != K.VIEWS},
                               lang_feats, lang_mask)


__all__ = ["BaselineARPPolicy", "render_views_pre_issue9"]
