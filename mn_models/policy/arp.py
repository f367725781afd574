"""ARP: an autoregressive policy (chunking causal transformer) on RVT-style multi-view features.

One step maps an observation + instruction to the next keyframe action
[xyz, quaternion xyzw, gripper_open, ignore_collisions] (mn_sim.types.Action layout):

1. the fused, cropped point cloud is rendered into orthographic views (pointcloud.py) and
   encoded by an MVT (mvt.py) into per-view feature maps;
2. translation: the chunking causal transformer's *cross* layers (AdaLN-conditioned on one
   view's tokens) turn a learned heatmap query into a per-view logit map (correlation with the
   feature map + learned convex upsampling); the views' heatmaps are fused into a 3D point.
   With ``coarse_to_fine`` (RVT-2) a second MVT sees the scene zoomed around that point;
3. rotation / gripper / collision: the *self* layers decode the sequence
   [6 prompt tokens | rot-x | rot-y | rot-z | grip | collision] where the prompts are the
   feature maps sampled at the point (one per view) and max-pooled (one per view); Euler
   angles are 72-way bins (5 degrees, see rotations.py), grip and collision 2-way. Grip and
   collision do not attend to the rotation tokens (ARP's block_attn_directions).

Chunking causal transformer (ARP): two streams run through the same layers. The *token*
stream holds the embeddings of the actual tokens (causal). The *query* stream holds, per
position, an embedding of what is to be predicted there (token type + index within its chunk)
and attends to the token stream of earlier chunks and to the queries of its own chunk;
predictions are read from the query stream. Training is teacher-forced in one pass;
inference decodes chunk by chunk (here every token is its own chunk, as in ARP's RLBench
model), and equals teacher forcing on the decoded tokens.

``e`` (the mirror-neuron embedding) = the query stream after the last block (final norm),
mean over all token positions, shape (B, policy_dim).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mn_models.checkpoint import atomic_folder
from mn_models.policy import constants as K
from mn_models.policy.augmentation import augment_se3
from mn_models.policy.config import PolicyConfig
from mn_models.policy.mvt import MVT, TextEncoder
from mn_models.policy.pointcloud import (NUM_VIEW_CHANNELS, add_location_channels,
                                         cube_to_world, fuse_cameras, fuse_heatmaps,
                                         gaussian_heatmaps, in_bounds, project_to_views,
                                         render_views, sample_view_features, world_to_cube)
from mn_models.policy.rotations import bins_to_quat, quat_to_bins

# token types
PROMPT, ROT_X, ROT_Y, ROT_Z, GRIP, COLLISION, HEAT1, HEAT2 = range(8)
ACTION_TOKENS = (ROT_X, ROT_Y, ROT_Z, GRIP, COLLISION)
TOKEN_NAMES = {ROT_X: "rot_x", ROT_Y: "rot_y", ROT_Z: "rot_z", GRIP: "grip",
               COLLISION: "collision"}
BLOCKED = [(a, r) for a in (GRIP, COLLISION) for r in (ROT_X, ROT_Y, ROT_Z)]


# --------------------------------------------------------------------------------------------
# chunking causal transformer


class CCTAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float, cross: bool = False):
        super().__init__()
        self.heads, self.cross, self.dropout = heads, cross, dropout
        if cross:
            self.q = nn.Linear(dim, dim)
            self.kv = nn.Linear(dim, 2 * dim)
        else:
            self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x, context=None, mask=None):
        """x (B, T, C); context (B, Tc, C) for cross attention; mask (T, T) bool keep."""
        B, T, C = x.shape
        if self.cross:
            q = self.q(x)
            k, v = self.kv(context).split(C, dim=2)
        else:
            q, k, v = self.qkv(x).split(C, dim=2)
        h = self.heads
        q, k, v = (t.reshape(B, -1, h, C // h).transpose(1, 2) for t in (q, k, v))  # (B,h,T,hs)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.resid_drop(self.proj(y))


class CCTLayer(nn.Module):
    """Transformer block; ``conditional`` layers cross-attend to a context and use it for
    adaptive layer norm (DiT-style shift/scale/gate, zero-initialised gates)."""

    def __init__(self, dim, heads, mlp_ratio, dropout, conditional: bool):
        super().__init__()
        self.conditional = conditional
        self.ln_attn = nn.LayerNorm(dim, elementwise_affine=not conditional, eps=1e-6)
        self.ln_mlp = nn.LayerNorm(dim, elementwise_affine=not conditional, eps=1e-6)
        self.attn = CCTAttention(dim, heads, dropout)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"),
                                 nn.Dropout(dropout), nn.Linear(hidden, dim), nn.Dropout(dropout))
        if conditional:
            self.ln_cond = nn.LayerNorm(dim, eps=1e-6)
            self.cond_attn = CCTAttention(dim, heads, dropout, cross=True)
            self.ln_ada = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
            self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, x, mask, context=None):
        if self.conditional:
            if context is None:
                raise ValueError("a cross layer needs visual context tokens")
            cond = self.ln_ada(self.cond_attn(self.ln_cond(x), context))
            sh1, sc1, g1, sh2, sc2, g2 = self.ada(cond).chunk(6, dim=-1)
            x = x + g1 * self.attn(self.ln_attn(x) * (1 + sc1) + sh1, mask=mask)
            return x + g2 * self.mlp(self.ln_mlp(x) * (1 + sc2) + sh2)
        x = x + self.attn(self.ln_attn(x), mask=mask)
        return x + self.mlp(self.ln_mlp(x))


def chunk_relative_index(chunk_ids: torch.Tensor) -> torch.Tensor:
    """(L,) non-decreasing chunk ids -> index of each position within its chunk."""
    first = torch.ones_like(chunk_ids, dtype=torch.bool)
    first[1:] = chunk_ids[1:] != chunk_ids[:-1]
    start = torch.cummax(torch.where(first, torch.arange(len(chunk_ids)), 0), 0).values
    return torch.arange(len(chunk_ids)) - start


def two_stream_mask(chunk_ids: torch.Tensor, types: torch.Tensor, blocked=()) -> torch.Tensor:
    """(2L, 2L) bool keep-mask over [token stream; query stream] (see module doc)."""
    L = len(chunk_ids)
    pos = torch.arange(L)
    dep = torch.ones(L, L, dtype=torch.bool)
    for a, b in blocked:
        dep &= ~((types[:, None] == a) & (types[None, :] == b))
    causal = (pos[:, None] >= pos[None, :]) & dep
    earlier = (chunk_ids[:, None] > chunk_ids[None, :]) & dep
    same = (chunk_ids[:, None] == chunk_ids[None, :]) & dep
    top = torch.cat([causal, torch.zeros(L, L, dtype=torch.bool)], 1)
    bottom = torch.cat([earlier, same], 1)
    return torch.cat([top, bottom], 0)


class ChunkCausalTransformer(nn.Module):
    """ARP's chunking causal transformer: cross (AdaLN) layers, then self layers."""

    def __init__(self, dim, heads, n_cross, n_self, mlp_ratio, dropout, max_len, n_types,
                 max_chunk=2):
        super().__init__()
        self.dim = dim
        self.type_embed = nn.Embedding(n_types, dim)
        self.chunk_embed = nn.Embedding(max_chunk, dim)
        self.pos_embed = nn.Embedding(max_len, dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            [CCTLayer(dim, heads, mlp_ratio, dropout, conditional=True) for _ in range(n_cross)]
            + [CCTLayer(dim, heads, mlp_ratio, dropout, conditional=False)
               for _ in range(n_self)])
        self.cross_ids = list(range(n_cross))
        self.self_ids = list(range(n_cross, n_cross + n_self))
        self.final_ln = nn.LayerNorm(dim)
        self._layouts: dict = {}     # not state: masks and ids of the sequences seen

    def layout(self, chunk_ids, types, blocked=(), device=None):
        """(two-stream mask (2L, 2L), position ids, type ids, within-chunk ids) of a sequence,
        computed once per (chunk ids, types, blocked) and device, then reused."""
        chunk_ids, types = chunk_ids.cpu(), types.cpu()
        key = (chunk_ids.numpy().tobytes(), types.numpy().tobytes(), tuple(blocked),
               str(device))
        hit = self._layouts.get(key)
        if hit is None:
            L = len(chunk_ids)
            hit = (two_stream_mask(chunk_ids, types, blocked).to(device),
                   torch.arange(L, device=device), types.to(device),
                   chunk_relative_index(chunk_ids).to(device))
            self._layouts[key] = hit
        return hit

    def forward(self, tokens, chunk_ids, types, layer_ids, context=None, blocked=()):
        """tokens (B, L, C) token-stream embeddings; chunk_ids, types (L,) int64.

        Returns (token stream, query stream), each (B, L, C) after the final norm."""
        B, L, C = tokens.shape
        mask, pos_ids, type_ids, rel_ids = self.layout(chunk_ids, types, blocked, tokens.device)
        pos = self.pos_embed(pos_ids)[None]                                    # (1, L, C)
        query = (self.type_embed(type_ids) + self.chunk_embed(rel_ids))[None]  # (1, L, C)
        x = torch.cat([self.drop(tokens + pos), self.drop(query + pos).expand(B, L, C)], 1)
        for i in layer_ids:
            x = self.blocks[i](x, mask, context)
        x = self.final_ln(x)
        return x[:, :L], x[:, L:]


class ConvexUpsample(nn.Module):
    """Low-resolution logits + learned convex combination of 3x3 neighbours (RAFT / RVT-2)."""

    def __init__(self, in_dim: int, up: int, hidden_mult: float = 1.25, mask_scale=0.1):
        super().__init__()
        hid = int(hidden_mult * in_dim)
        self.up, self.mask_scale = up, mask_scale
        self.net_out = nn.Sequential(
            nn.Conv2d(in_dim, hid, 3, padding=1), nn.ReLU(),
            nn.Conv2d(hid, hid, 3, padding=1), nn.ReLU(),
            nn.Conv2d(hid, 1, 3, padding=1))
        self.net_mask = nn.Sequential(
            nn.Conv2d(in_dim, hid, 3, padding=1), nn.ReLU(),
            nn.Conv2d(hid, up * up * 9, 1))

    def forward(self, x):
        """x (N, C, h, w) -> (N, h*up, w*up) logits."""
        N, _, h, w = x.shape
        u = self.up
        low = self.net_out(x)                                                # (N, 1, h, w)
        mask = (self.mask_scale * self.net_mask(x)).reshape(N, 9, u, u, h, w).softmax(1)
        nb = F.unfold(low, 3, padding=1).reshape(N, 9, 1, 1, h, w)          # 3x3 neighbours
        out = (nb * mask).sum(1)                                             # (N, u, u, h, w)
        return out.permute(0, 3, 1, 4, 2).reshape(N, h * u, w * u)


def trim_padding(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the trailing positions that are padding in every row: x (B, L, ...), mask (B, L).

    Padding is only ever a masked key (the MVT and the text encoder never let a real token
    attend to it, and the MVT discards the language tokens' outputs), so the policy computes
    the same numbers without it; CLIP pads instructions of ~10 tokens to 77. At least one
    position is kept."""
    if mask.dim() != 2 or x.shape[:2] != mask.shape:
        raise ValueError(f"language mask {tuple(mask.shape)} must be (B, L) matching "
                         f"{tuple(x.shape)}")
    L = mask.shape[1]
    real = mask.any(0)                                                     # (L,)
    keep = int(real.nonzero().max()) + 1 if bool(real.any()) else 1
    if keep >= L:
        return x, mask
    return x[:, :keep], mask[:, :keep]


def sinusoid(values: torch.Tensor, dim: int, base: float = 10000.0) -> torch.Tensor:
    """(...,) numbers -> (..., dim) [sin | cos] features (ARP's 1D position embedding)."""
    freq = torch.exp(torch.arange(0, dim, 2, device=values.device, dtype=torch.float32)
                     * (-math.log(base) / dim))
    a = values.float()[..., None] * freq
    return torch.cat([torch.sin(a), torch.cos(a)], -1)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over leading dims of -sum target * log_softmax, over the last two dims."""
    lp = F.log_softmax(logits.flatten(-2), -1)
    return -(target.flatten(-2) * lp).sum(-1).mean()


# --------------------------------------------------------------------------------------------
# the policy


@torch.no_grad()
def stage1_views(batch: dict, cfg: PolicyConfig) -> torch.Tensor:
    """A batch's cameras -> (B, V, 7, S, S) stage-1 views without the location channels,
    exactly as the policy renders them without augmentation (fused cloud, cropped to the
    workspace, cube frame, z-buffered views)."""
    pts, cols, valid = fuse_cameras(batch, cfg.cameras)
    valid = valid & in_bounds(pts, cfg.scene_bounds)
    return render_views(world_to_cube(pts, cfg.scene_bounds), cols, valid, cfg.img_size,
                        cfg.views, cfg.point_splat, location=False)


def view_cache_settings(cfg: PolicyConfig) -> dict:
    """What the stage-1 views depend on (the key of their training cache)."""
    return {"cameras": list(cfg.cameras), "scene_bounds": list(cfg.scene_bounds),
            "views": list(cfg.views), "img_size": cfg.img_size, "point_splat": cfg.point_splat}


class ARPPolicy(nn.Module):
    """Keyframe policy: ``forward(batch) -> (loss, logs, outputs)`` for training,
    ``predict_action(batch) -> (actions (B, 9), e (B, D))`` for control.

    Batch format: mn_models.policy.constants. Language: token ids in the batch, encoded by the
    policy's own ``text_encoder``, or external per-token features passed as ``lang_feats``
    (B, L, lang_dim) + ``lang_mask`` (B, L).
    """

    def __init__(self, cfg: PolicyConfig):
        super().__init__()
        if not isinstance(cfg, PolicyConfig):
            raise TypeError(f"ARPPolicy needs a PolicyConfig; got {type(cfg).__name__} "
                            f"(use make_policy_config)")
        self.cfg = c = cfg
        V, D = len(c.views), c.policy_dim
        self.num_views, self.num_prompts = V, 2 * V
        self.text_encoder = TextEncoder(c.vocab_size, c.lang_dim, c.text_layers, c.text_heads,
                                        c.lang_max_len)
        self.mvt1 = MVT(c, out_dim=D)
        self.mvt2 = MVT(c, out_dim=D) if c.coarse_to_fine else None
        self.cct = ChunkCausalTransformer(
            D, c.policy_heads, c.policy_cross_layers, c.policy_self_layers, c.policy_mlp_ratio,
            c.policy_dropout, max_len=self.num_prompts + len(ACTION_TOKENS), n_types=8)
        n_stages = 2 if c.coarse_to_fine else 1
        self.upsample = nn.ModuleList(ConvexUpsample(D, c.patch_size, c.upsample_hidden_mult)
                                      for _ in range(n_stages))
        self.grip_embed = nn.Embedding(2, D)
        self.collision_embed = nn.Embedding(2, D)
        self.heads = nn.ModuleDict({
            "rot_x": nn.Linear(D, c.num_rotation_bins), "rot_y": nn.Linear(D, c.num_rotation_bins),
            "rot_z": nn.Linear(D, c.num_rotation_bins), "grip": nn.Linear(D, 2),
            "collision": nn.Linear(D, 2)})
        self._init_policy_weights()
        L = self.num_prompts + len(ACTION_TOKENS)
        self.register_buffer("seq_chunks", torch.arange(L), persistent=False)
        self.register_buffer("seq_types", torch.tensor([PROMPT] * self.num_prompts
                                                       + list(ACTION_TOKENS)), persistent=False)

    def _init_policy_weights(self):
        def init(m):
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)
        for mod in (self.cct, self.grip_embed, self.collision_embed, self.heads):
            mod.apply(init)
        for blk in self.cct.blocks:
            if blk.conditional:
                nn.init.zeros_(blk.ada[-1].weight)
                nn.init.zeros_(blk.ada[-1].bias)

    # ---------------------------------------------------------------- helpers

    def num_parameters(self, include_text_encoder: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        if not include_text_encoder:
            n -= sum(p.numel() for p in self.text_encoder.parameters())
        return n

    def encode_language(self, batch, lang_feats=None, lang_mask=None):
        """-> (B, L, lang_dim) token features and (B, L) bool mask."""
        if lang_feats is not None:
            if lang_feats.dim() != 3 or lang_feats.shape[-1] != self.cfg.lang_dim:
                raise ValueError(f"lang_feats must be (B, L, {self.cfg.lang_dim}); got "
                                 f"{tuple(lang_feats.shape)}")
            if lang_mask is None:
                lang_mask = torch.ones(lang_feats.shape[:2], dtype=torch.bool,
                                       device=lang_feats.device)
            return trim_padding(lang_feats, lang_mask.bool())
        if K.LANG_TOKENS not in batch:
            raise KeyError(f"batch lacks {K.LANG_TOKENS!r} (B, L) token ids; tokenize the "
                           f"instruction (CLIP BPE) or pass lang_feats")
        tokens = batch[K.LANG_TOKENS].long()
        mask = batch.get(K.LANG_MASK)
        mask = (tokens != self.cfg.pad_token_id) if mask is None else mask.bool()
        tokens, mask = trim_padding(tokens, mask)
        return self.text_encoder(tokens, mask), mask

    def _proprio(self, batch, B):
        if K.PROPRIO not in batch:
            raise KeyError(f"batch lacks {K.PROPRIO!r} (B, {self.cfg.proprio_dim}) "
                           f"[gripper_open, finger joints]")
        p = batch[K.PROPRIO].float()
        if p.shape != (B, self.cfg.proprio_dim):
            raise ValueError(f"{K.PROPRIO} must be ({B}, {self.cfg.proprio_dim}); got "
                             f"{tuple(p.shape)}")
        return p

    def _action_target(self, batch, B):
        a = batch[K.ACTION].float()
        if a.shape != (B, 9):
            raise ValueError(f"{K.ACTION} must be ({B}, 9) [xyz, quat xyzw, gripper_open, "
                             f"ignore_collisions]; got {tuple(a.shape)}")
        if not torch.isfinite(a).all():
            raise ValueError(f"{K.ACTION} contains NaN or inf")
        return a

    def _scene(self, batch, target_pose=None, augment=False):
        """-> cube points (B, N, 3), colours, valid, target pose and current gripper pose
        (both moved by the augmentation when it applies; None when absent)."""
        c = self.cfg
        pts, cols, valid = fuse_cameras(batch, c.cameras)
        gripper_pose = batch.get(K.GRIPPER_POSE)
        if augment and target_pose is not None:
            extra = [gripper_pose.float()] if gripper_pose is not None else None
            pts, target_pose, extra, _ = augment_se3(
                pts, target_pose, c.scene_bounds, c.aug_translation, c.aug_yaw_deg,
                c.aug_pivot, c.aug_max_tries, extra_poses=extra)
            gripper_pose = extra[0] if extra else None
        valid = valid & in_bounds(pts, c.scene_bounds)
        return world_to_cube(pts, c.scene_bounds), cols, valid, target_pose, gripper_pose

    def _render(self, cube_pts, cols, valid):
        c = self.cfg
        return render_views(cube_pts, cols, valid, c.img_size, c.views, c.point_splat)

    def render_stage1(self, batch: dict) -> torch.Tensor:
        """(B, V, 7, S, S) stage-1 views of a batch's cameras without the pixel-location
        channels: what the training cache stores (K.VIEWS)."""
        return stage1_views(batch, self.cfg)

    def _given_views(self, batch, B, augment: bool):
        """The batch's pre-rendered stage-1 views with location channels, or None."""
        views = batch.get(K.VIEWS)
        if views is None:
            return None
        c = self.cfg
        want = (B, len(c.views), NUM_VIEW_CHANNELS - 3, c.img_size, c.img_size)
        if tuple(views.shape) != want:
            raise ValueError(f"{K.VIEWS} must be {want} (views {c.views} at {c.img_size} px); "
                             f"got {tuple(views.shape)}: rebuild the view cache for this "
                             f"policy config")
        if augment or c.coarse_to_fine:
            raise ValueError(f"{K.VIEWS} (pre-rendered views) cannot be used with SE(3) "
                             f"augmentation or coarse-to-fine: both re-render the point "
                             f"cloud; pass the camera keys instead")
        return add_location_channels(views.float())

    def heatmap_logits(self, featmap: torch.Tensor, stage: int) -> torch.Tensor:
        """(B, V, C, n, n) feature maps -> (B, V, S, S) translation logits."""
        B, V, C, n, _ = featmap.shape
        ctx = featmap.reshape(B * V, C, n * n).transpose(1, 2)               # (B*V, n*n, C)
        tok = featmap.new_zeros(B * V, 1, C)
        one = torch.zeros(1, dtype=torch.long)
        _, q = self.cct(tok, one, one + (HEAT1 + stage), self.cct.cross_ids, context=ctx)
        corr = q[:, 0, :, None, None] * featmap.reshape(B * V, C, n, n)     # (B*V, C, n, n)
        logits = self.upsample[stage](corr)                                  # (B*V, S, S)
        return logits.reshape(B, V, *logits.shape[1:])

    def prompt_features(self, featmap, point_cube):
        """Features at the point's projection in each view + max-pooled views: (B, 2V, C)."""
        at_point = sample_view_features(featmap, point_cube, self.cfg.views)   # (B, V, C)
        pooled = featmap.amax(dim=(-1, -2))                                    # (B, V, C)
        return torch.cat([at_point, pooled], 1)

    def action_token_embeddings(self, prompt, rot_bins, grip, collision):
        """Token-stream embeddings (B, 2V + 5, C) of [prompts | rot x y z | grip | coll]."""
        rot = sinusoid(rot_bins, self.cfg.policy_dim)                          # (B, 3, C)
        return torch.cat([prompt, rot, self.grip_embed(grip.long())[:, None],
                          self.collision_embed(collision.long())[:, None]], 1)

    def _run_self(self, tokens):
        L = tokens.shape[1]
        return self.cct(tokens, self.seq_chunks[:L], self.seq_types[:L], self.cct.self_ids,
                        blocked=BLOCKED)

    def teacher_forced(self, prompt, rot_bins, grip, collision):
        """One pass over the full sequence -> (logits dict name -> (B, n), e (B, C))."""
        tokens = self.action_token_embeddings(prompt, rot_bins, grip, collision)
        _, q = self._run_self(tokens)
        return self._read_out(q)

    def _read_out(self, q):
        """Query stream (B, L, C) -> (logits dict name -> (B, n), e (B, C))."""
        P = self.num_prompts
        logits = {TOKEN_NAMES[t]: self.heads[TOKEN_NAMES[t]](q[:, P + i])
                  for i, t in enumerate(ACTION_TOKENS)}
        return logits, q.mean(1)

    @torch.no_grad()
    def decode(self, prompt, return_query: bool = False):
        """Greedy autoregressive decoding, one token (= one chunk) at a time.

        Returns rot_bins (B, 3), grip (B,), collision (B,); the sequence after position p is
        not even present when position p is predicted. ``return_query`` adds the query stream
        of the last pass (B, L, C): it equals teacher forcing on the decoded tokens, because
        the one token that pass lacks (the last one) is attended by no query."""
        B, P = prompt.shape[0], self.num_prompts
        vals = torch.zeros(B, len(ACTION_TOKENS), dtype=torch.long, device=prompt.device)
        q = None
        for i, t in enumerate(ACTION_TOKENS):
            tokens = self.action_token_embeddings(prompt, vals[:, :3], vals[:, 3], vals[:, 4])
            _, q = self._run_self(tokens[:, :P + i + 1])
            vals[:, i] = self.heads[TOKEN_NAMES[t]](q[:, P + i]).argmax(-1)
        if return_query:
            return vals[:, :3], vals[:, 3], vals[:, 4], q
        return vals[:, :3], vals[:, 3], vals[:, 4]

    @torch.no_grad()
    def decode_action(self, prompt):
        """Decoded rot_bins, grip, collision and their logits and e, as
        ``decode`` + ``teacher_forced`` on the decoded tokens give them (one pass fewer)."""
        rot, grip, coll, q = self.decode(prompt, return_query=True)
        logits, e = self._read_out(q)
        return rot, grip, coll, logits, e

    def _jitter(self, bins):
        p = torch.tensor(self.cfg.rotation_jitter_probs)
        k = (len(p) - 1) // 2
        off = torch.multinomial(p, bins.numel(), replacement=True).reshape(bins.shape) - k
        return torch.remainder(bins + off.to(bins.device), self.cfg.num_rotation_bins)

    # ---------------------------------------------------------------- training

    def forward(self, batch: dict, lang_feats=None, lang_mask=None):
        """Teacher-forced loss. Returns (loss, logs dict of floats, outputs dict).

        Loss = per-stage heatmap cross-entropy (Gaussian targets, mean over views) + the
        rotation/grip/collision token cross-entropies. In training mode the scene is
        SE(3)-augmented (cfg.augment), the stage-2 centre is noised and the rotation input
        tokens are jittered; labels are never jittered. outputs: 'e' (B, policy_dim),
        'heatmaps' (list of (B, V, S, S) logits), 'token_logits', 'rot_bins' (labels),
        'prompt', 'target_pose' (after augmentation), 'gripper_pose' (if given)."""
        c = self.cfg
        B = batch[K.PROPRIO].shape[0] if K.PROPRIO in batch else None
        if B is None:
            raise KeyError(f"batch lacks {K.PROPRIO!r}")
        if K.ACTION not in batch:
            raise KeyError(f"forward() trains on targets: batch lacks {K.ACTION!r} (B, 9); use "
                           f"predict_action() for inference")
        act = self._action_target(batch, B)
        proprio = self._proprio(batch, B)
        augment = self.training and c.augment
        img = self._given_views(batch, B, augment)
        if img is None:
            cube, cols, valid, pose, gripper_pose = self._scene(batch, act[:, :7], augment)
            img = self._render(cube, cols, valid)
        else:
            pose, gripper_pose = act[:, :7], batch.get(K.GRIPPER_POSE)
        tgt = world_to_cube(pose[:, :3], c.scene_bounds).clamp(-1, 1)         # (B, 3)
        lang, lmask = self.encode_language(batch, lang_feats, lang_mask)
        logs, losses, heatmaps = {}, {}, []

        feat = self.mvt1(img, proprio, lang, lmask)
        hm = self.heatmap_logits(feat, 0)
        losses["trans_stage1"] = self._heatmap_loss(hm, tgt, logs, "stage1")
        heatmaps.append(hm)
        point = tgt
        if c.coarse_to_fine:
            center = tgt
            if self.training and c.stage2_center_noise > 0:
                center = tgt + (torch.rand_like(tgt) * 2 - 1) * c.stage2_center_noise
            cube2 = (cube - center[:, None]) * c.stage2_zoom
            point = ((tgt - center) * c.stage2_zoom).clamp(-1, 1)
            feat = self.mvt2(self._render(cube2, cols, valid), proprio, lang, lmask)
            hm = self.heatmap_logits(feat, 1)
            losses["trans_stage2"] = self._heatmap_loss(hm, point, logs, "stage2")
            heatmaps.append(hm)

        prompt = self.prompt_features(feat, point)
        rot = quat_to_bins(pose[:, 3:7].double(), c.num_rotation_bins)
        grip = (act[:, 7] > 0.5).long()
        coll = (act[:, 8] > 0.5).long()
        rot_in = self._jitter(rot) if self.training else rot
        logits, e = self.teacher_forced(prompt, rot_in, grip, coll)
        labels = {"rot_x": rot[:, 0], "rot_y": rot[:, 1], "rot_z": rot[:, 2], "grip": grip,
                  "collision": coll}
        for name, lg in logits.items():
            losses[name] = F.cross_entropy(lg, labels[name])
            logs[f"acc_{name}"] = (lg.argmax(-1) == labels[name]).float().mean().item()
        loss = sum(losses.values())
        logs.update({f"loss_{k}": v.item() for k, v in losses.items()})
        logs["loss"] = loss.item()
        logs["acc_rot"] = (logs["acc_rot_x"] + logs["acc_rot_y"] + logs["acc_rot_z"]) / 3
        outputs = {K.EMBEDDING: e, K.HEATMAPS: heatmaps, K.TOKEN_LOGITS: logits,
                   K.ROT_BINS: rot, "prompt": prompt, "target_pose": pose}
        if gripper_pose is not None:
            outputs[K.GRIPPER_POSE] = gripper_pose
        return loss, logs, outputs

    def _heatmap_loss(self, hm, point_cube, logs, tag):
        c = self.cfg
        uv = project_to_views(point_cube, c.img_size, c.views)                # (B, V, 2)
        target = gaussian_heatmaps(uv, c.img_size, c.heatmap_sigma)            # (B, V, S, S)
        with torch.no_grad():
            S = c.img_size
            idx = hm.flatten(-2).argmax(-1)                                    # (B, V)
            pred = torch.stack([idx % S, idx // S], -1).float()
            logs[f"px_err_{tag}"] = (pred - uv).norm(dim=-1).mean().item()
        return soft_cross_entropy(hm, target)

    # ---------------------------------------------------------------- inference

    def predict(self, batch: dict, lang_feats=None, lang_mask=None) -> dict:
        """Inference without targets (no augmentation). Returns a dict with 'actions'
        (B, 9), 'e' (B, C), 'point' (B, 3) world, 'rot_bins', 'heatmaps', 'prompt'."""
        c = self.cfg
        if K.PROPRIO not in batch:
            raise KeyError(f"batch lacks {K.PROPRIO!r}")
        B = batch[K.PROPRIO].shape[0]
        proprio = self._proprio(batch, B)
        img = self._given_views(batch, B, augment=False)
        if img is None:
            cube, cols, valid, _, _ = self._scene(batch)
            img = self._render(cube, cols, valid)
        lang, lmask = self.encode_language(batch, lang_feats, lang_mask)
        feat = self.mvt1(img, proprio, lang, lmask)
        hm = self.heatmap_logits(feat, 0)
        heatmaps = [hm]
        point = fuse_heatmaps(hm.flatten(-2).softmax(-1).reshape(hm.shape), c.views)
        final = point
        if c.coarse_to_fine:
            center = point
            feat = self.mvt2(self._render((cube - center[:, None]) * c.stage2_zoom, cols, valid),
                             proprio, lang, lmask)
            hm = self.heatmap_logits(feat, 1)
            heatmaps.append(hm)
            point = fuse_heatmaps(hm.flatten(-2).softmax(-1).reshape(hm.shape), c.views)
            final = point / c.stage2_zoom + center
        prompt = self.prompt_features(feat, point)
        rot, grip, coll, logits, e = self.decode_action(prompt)
        world = cube_to_world(final, c.scene_bounds)
        quat = bins_to_quat(rot.double(), c.num_rotation_bins).to(world.dtype)
        actions = torch.cat([world, quat, grip[:, None].to(world.dtype),
                             coll[:, None].to(world.dtype)], -1)
        return {K.ACTIONS: actions, K.EMBEDDING: e, K.POINT: world, K.ROT_BINS: rot,
                K.HEATMAPS: heatmaps, K.TOKEN_LOGITS: logits, "prompt": prompt}

    def predict_action(self, batch: dict, lang_feats=None, lang_mask=None):
        """(B, 9) actions [xyz, quat xyzw, gripper_open, ignore_collisions] and e (B, C).

        Runs in eval mode without gradients (restores the previous mode)."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                out = self.predict(batch, lang_feats, lang_mask)
        finally:
            self.train(was_training)
        return out[K.ACTIONS], out[K.EMBEDDING]

    def embed(self, batch: dict, lang_feats=None, lang_mask=None) -> torch.Tensor:
        """e (B, policy_dim): teacher-forced on the batch's action if present (differentiable,
        as in training), else from the policy's own decoded action."""
        if K.ACTION in batch:
            return self.forward(batch, lang_feats, lang_mask)[2][K.EMBEDDING]
        return self.predict(batch, lang_feats, lang_mask)[K.EMBEDDING]

    def reset(self):
        """Start of an episode. ARP predicts from the current observation only: no state."""

    # ---------------------------------------------------------------- checkpoints

    def save_pretrained(self, path) -> Path:
        """Write ``config.json`` + ``model.safetensors`` into folder ``path`` atomically."""
        from safetensors.torch import save_file

        def write(tmp: Path) -> None:
            (tmp / "config.json").write_text(json.dumps(
                {"type": "arp_policy", "config": self.cfg.to_dict()}, indent=2))
            state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
            save_file(state, str(tmp / "model.safetensors"))
        return atomic_folder(Path(path), write)

    @classmethod
    def from_pretrained(cls, path, map_location="cpu") -> "ARPPolicy":
        from safetensors.torch import load_file
        path = Path(path)
        cfg_file, weights = path / "config.json", path / "model.safetensors"
        if not cfg_file.is_file() or not weights.is_file():
            raise FileNotFoundError(f"{path} is not a policy checkpoint folder: it needs "
                                    f"config.json and model.safetensors (save_pretrained)")
        meta = json.loads(cfg_file.read_text())
        if meta.get("type") != "arp_policy":
            raise ValueError(f"{cfg_file} describes {meta.get('type')!r}, not an arp_policy")
        model = cls(PolicyConfig.from_dict(meta["config"]))
        model.load_state_dict(load_file(str(weights), device=str(map_location)))
        return model


def make_policy(cfg: PolicyConfig | str = "tiny", **overrides) -> ARPPolicy:
    """Build a policy from a config or a preset name (+ overrides)."""
    from mn_models.policy.config import make_policy_config
    if isinstance(cfg, str):
        cfg = make_policy_config(cfg, **overrides)
    elif overrides:
        raise ValueError("overrides are only accepted with a preset name")
    return ARPPolicy(cfg)


__all__ = ["ARPPolicy", "make_policy", "stage1_views", "view_cache_settings",
           "ChunkCausalTransformer", "ConvexUpsample",
           "two_stream_mask", "chunk_relative_index", "TOKEN_NAMES"]
