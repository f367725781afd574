"""Multi-view transformer (RVT / ARP's MVT) and the policy's small text encoder.

MVT: each virtual view (10 x S x S) is patchified (conv, stride = patch) to im_channels, the
proprio embedding (im_channels) is concatenated to every patch, a learned positional
encoding is added, then ``depth // 2`` transformer layers attend within each view and the
remaining layers across all views plus the instruction's token features (padding masked).
The image tokens are projected to ``out_dim`` and returned as per-view feature maps
(B, V, out_dim, S / patch, S / patch).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.02


class DenseBlock(nn.Module):
    """Linear (+ GroupNorm(4)) (+ LeakyReLU), as RVT's DenseBlock."""

    def __init__(self, d_in: int, d_out: int, norm: bool = False, act: bool = False):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        if act:
            nn.init.kaiming_uniform_(self.linear.weight, a=LRELU_SLOPE,
                                     nonlinearity="leaky_relu")
        else:
            nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.norm = nn.GroupNorm(4, d_out) if norm else None
        self.act = nn.LeakyReLU(LRELU_SLOPE) if act else None

    def forward(self, x):  # (N, d_in) -> (N, d_out)
        x = self.linear(x)
        if self.norm is not None:
            x = self.norm(x)
        return self.act(x) if self.act is not None else x


def dropout_drop_mask(shape, p: float, device=None) -> torch.Tensor:
    """Bool mask of ``shape``, each entry True (= dropped) with probability p (to 1/65536),
    drawn from torch's seeded generator.

    The same Bernoulli(p) draws as ``torch.bernoulli`` but ~6x faster on a CPU: every int64 of
    ``random_()`` carries 63 uniform bits, of which three 16-bit words are used."""
    n = math.prod(shape)
    words = torch.empty((n + 2) // 3, dtype=torch.int64, device=device).random_()
    r = words.view(torch.int16).view(-1, 4)[:, :3].reshape(-1)[:n].reshape(shape)
    thr = int(round(p * 65536))               # dropped iff the unsigned word is below thr
    if thr <= 0:
        return torch.zeros(shape, dtype=torch.bool, device=device)
    if thr >= 32768:                          # signed view: [32768, 65536) are negative
        return (r >= 0) | (r < thr - 65536)
    return (r >= 0) & (r < thr)


def attention_with_dropout(q, k, v, key_mask, p: float) -> torch.Tensor:
    """Softmax attention with dropout on the attention weights (what SDPA's ``dropout_p``
    does; SDPA's CPU kernels fall back to an explicit path with a slow generator for it).
    q, k, v (B, h, T, dh); key_mask (B, 1, 1, T) bool or None. The 1 / (1 - p) rescaling of
    the kept weights is applied to v (the same product, on a smaller tensor)."""
    B, h, T, dh = q.shape
    Tk = k.shape[2]
    qf, kf = q.reshape(B * h, T, dh), k.reshape(B * h, Tk, dh)
    if key_mask is None:
        s = torch.bmm(qf, kf.transpose(1, 2)) * (dh ** -0.5)
    else:                                     # scale and mask in one pass
        bias = torch.zeros(key_mask.shape, dtype=q.dtype, device=q.device).masked_fill_(
            ~key_mask, float("-inf")).expand(B, h, 1, Tk).reshape(B * h, 1, Tk)
        s = torch.baddbmm(bias, qf, kf.transpose(1, 2), alpha=dh ** -0.5)
    a = s.softmax(-1).masked_fill(dropout_drop_mask(s.shape, p, s.device), 0.0)
    return torch.bmm(a, (v * (1.0 / (1.0 - p))).reshape(B * h, Tk, -1)).reshape(B, h, T, -1)


class Attention(nn.Module):
    """Multi-head attention, q/kv without bias (RVT), optional key mask."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float = 0.0):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.dim_head, self.dropout = heads, dim_head, dropout
        self.fast_dropout = True    # False: SDPA's own dropout (the pre-issue-9 path)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim)

    def forward(self, x, key_mask=None):
        """x (B, T, dim); key_mask (B, T) bool, True = may be attended."""
        B, T, _ = x.shape
        q = self.to_q(x)
        k, v = self.to_kv(x).chunk(2, dim=-1)
        q, k, v = (t.reshape(B, T, self.heads, self.dim_head).transpose(1, 2)
                   for t in (q, k, v))                                    # (B, h, T, dh)
        mask = None if key_mask is None else key_mask[:, None, None, :]   # (B, 1, 1, T)
        p = self.dropout if self.training else 0.0
        if p > 0 and self.fast_dropout:
            y = attention_with_dropout(q, k, v, mask, p)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.to_out(y.transpose(1, 2).reshape(B, T, -1))          # (B, T, dim)


class GEGLUFeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        self.fc_in = nn.Linear(dim, dim * mult * 2)
        self.fc_out = nn.Linear(dim * mult, dim)

    def forward(self, x):
        a, gate = self.fc_in(x).chunk(2, dim=-1)
        return self.fc_out(a * F.gelu(gate))


class MVTLayer(nn.Module):
    """Pre-norm attention + pre-norm GEGLU feed-forward, residual."""

    def __init__(self, dim, heads, dim_head, dropout):
        super().__init__()
        self.norm_attn = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dim_head, dropout)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = GEGLUFeedForward(dim)

    def forward(self, x, key_mask=None):
        x = x + self.attn(self.norm_attn(x), key_mask)
        return x + self.ff(self.norm_ff(x))


class MVT(nn.Module):
    """RVT-style multi-view transformer over rendered virtual views."""

    def __init__(self, cfg, out_dim: int):
        super().__init__()
        c = cfg
        self.num_views, self.patch, self.img_size = len(c.views), c.patch_size, c.img_size
        self.np = c.img_size // c.patch_size
        self.im_channels = c.im_channels
        d0 = 2 * c.im_channels                       # patch features + proprio features
        self.patchify = nn.Conv2d(10, c.im_channels, c.patch_size, stride=c.patch_size)
        nn.init.kaiming_uniform_(self.patchify.weight, a=LRELU_SLOPE, nonlinearity="leaky_relu")
        nn.init.zeros_(self.patchify.bias)
        self.patch_norm = nn.GroupNorm(4, c.im_channels)
        self.proprio = DenseBlock(c.proprio_dim, c.im_channels, norm=True, act=True)
        self.lang = DenseBlock(c.lang_dim, d0, norm=True, act=True)
        self.pos_encoding = nn.Parameter(torch.randn(1, self.num_views * self.np ** 2, d0))
        self.fc_in = DenseBlock(d0, c.attn_dim)
        self.fc_out = DenseBlock(c.attn_dim, out_dim)
        self.layers = nn.ModuleList(
            MVTLayer(c.attn_dim, c.attn_heads, c.attn_dim_head, c.attn_dropout)
            for _ in range(c.depth))

    def forward(self, img, proprio, lang_feats, lang_mask=None):
        """img (B, V, 10, S, S); proprio (B, P); lang_feats (B, L, D_lang); lang_mask (B, L).

        Returns (B, V, out_dim, np, np) feature maps."""
        B, V, C, S, _ = img.shape
        if V != self.num_views or S != self.img_size:
            raise ValueError(f"MVT expects {self.num_views} views of {self.img_size} px; got "
                             f"{V} of {S}")
        n = self.np
        x = self.patchify(img.reshape(B * V, C, S, S))                  # (B*V, ic, n, n)
        x = F.leaky_relu(self.patch_norm(x), LRELU_SLOPE)
        x = x.reshape(B, V, self.im_channels, n * n).transpose(2, 3)   # (B, V, n*n, ic)
        p = self.proprio(proprio.float())                               # (B, ic)
        x = torch.cat([x, p[:, None, None, :].expand(-1, V, n * n, -1)], -1)  # (B,V,n*n,2ic)
        x = x.reshape(B, V * n * n, -1) + self.pos_encoding             # (B, V*n*n, d0)
        L = lang_feats.shape[1]
        lang = self.lang(lang_feats.reshape(B * L, -1).float()).reshape(B, L, -1)
        img_tok = self.fc_in(x)                                         # (B, V*n*n, D)
        lang_tok = self.fc_in(lang)                                     # (B, L, D)
        half = len(self.layers) // 2
        img_tok = img_tok.reshape(B * V, n * n, -1)                    # within-view attention
        for layer in self.layers[:half]:
            img_tok = layer(img_tok)
        seq = torch.cat([lang_tok, img_tok.reshape(B, V * n * n, -1)], 1)  # (B, L+V*n*n, D)
        key_mask = None
        if lang_mask is not None:
            key_mask = torch.cat([lang_mask.bool(),
                                  lang_mask.new_ones(B, V * n * n, dtype=torch.bool)], 1)
        for layer in self.layers[half:]:                                # across views + lang
            seq = layer(seq, key_mask)
        out = self.fc_out(seq[:, L:])                                   # (B, V*n*n, out)
        return out.reshape(B, V, n, n, -1).permute(0, 1, 4, 2, 3).contiguous()


class TextEncoder(nn.Module):
    """Small learned text encoder over CLIP BPE token ids: embedding + pre-norm transformer.

    Stands in for the frozen CLIP token features ARP feeds its MVT; returns per-token
    features (B, L, lang_dim); padding positions are masked as keys.
    """

    def __init__(self, vocab_size: int, dim: int, layers: int, heads: int, max_len: int):
        super().__init__()
        self.max_len, self.vocab_size = max_len, vocab_size
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.positional_embedding = nn.Parameter(torch.zeros(max_len, dim))
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        self.layers = nn.ModuleList(MVTLayer(dim, heads, dim // heads, 0.0)
                                    for _ in range(layers))
        self.ln_final = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """tokens (B, L) int64, mask (B, L) bool -> (B, L, dim)."""
        B, L = tokens.shape
        if L > self.max_len:
            raise ValueError(f"instruction has {L} tokens; the text encoder takes at most "
                             f"{self.max_len} (raise lang_max_len or truncate)")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}); got "
                             f"[{int(tokens.min())}, {int(tokens.max())}]")
        x = self.token_embedding(tokens.long()) + self.positional_embedding[:L]
        key_mask = mask.bool().clone()
        key_mask[key_mask.sum(1) == 0, 0] = True     # an all-padding row still attends to one
        for layer in self.layers:
            x = layer(x, key_mask)
        return self.ln_final(x)


__all__ = ["MVT", "TextEncoder", "DenseBlock", "Attention", "MVTLayer", "dropout_drop_mask",
           "attention_with_dropout"]
