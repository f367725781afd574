"""A small exact t-SNE (van der Maaten & Hinton, JMLR 2008) in numpy, for a few hundred points.

    Y = tsne(X, perplexity=30, seed=0)      # X (N, D) -> Y (N, 2)

Steps: Gaussian conditionals P(j|i) with a per-point bandwidth found by bisection so that the
perplexity 2^H(P_i) matches; symmetric P = (P + P^T) / 2N; Student-t (1 dof) similarities Q in
the embedding; gradient descent on KL(P || Q) with early exaggeration (x12, first 250
iterations), momentum 0.5 -> 0.8 and per-coordinate adaptive gains. O(N^2) memory and time.
"""
from __future__ import annotations

import numpy as np


def _squared_distances(X: np.ndarray) -> np.ndarray:
    sq = np.sum(X * X, axis=1)
    D = sq[:, None] + sq[None, :] - 2.0 * X @ X.T                   # (N, N)
    np.fill_diagonal(D, 0.0)
    return np.maximum(D, 0.0)


def conditional_p(D: np.ndarray, perplexity: float, tol: float = 1e-5,
                  max_iter: int = 100) -> np.ndarray:
    """Row-normalized P(j|i) (N, N) whose rows have the given perplexity."""
    n = D.shape[0]
    target = np.log(perplexity)                                     # entropy in nats
    P = np.zeros((n, n))
    for i in range(n):
        d = np.delete(D[i], i)
        d = d - d.min()                                             # stabilizes exp
        lo, hi, beta = 0.0, np.inf, 1.0
        for _ in range(max_iter):
            p = np.exp(-d * beta)
            s = p.sum()
            if s <= 0.0:                                            # beta too large
                hi, beta = beta, (lo + beta) / 2.0
                continue
            H = np.log(s) + beta * np.sum(d * p) / s
            if abs(H - target) < tol:
                break
            if H > target:                                          # too flat: sharpen
                lo = beta
                beta = beta * 2.0 if hi == np.inf else (beta + hi) / 2.0
            else:
                hi = beta
                beta = (beta + lo) / 2.0
        P[i, np.arange(n) != i] = p / s
    return P


def tsne(X, n_components: int = 2, perplexity: float = 30.0, n_iter: int = 1000,
         learning_rate: float | None = None, early_exaggeration: float = 12.0,
         seed: int = 0, return_kl: bool = False):
    """Embed X (N, D) into (N, n_components). perplexity is capped at (N - 1) / 3.
    learning_rate defaults to max(N / early_exaggeration / 4, 50) (Belkina et al. 2019)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 3:
        raise ValueError(f"t-SNE needs a (N >= 3, D) array, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("t-SNE input contains NaN or inf")
    n = X.shape[0]
    perplexity = float(min(perplexity, (n - 1) / 3.0))
    P = conditional_p(_squared_distances(X), perplexity)
    P = np.maximum((P + P.T) / (2.0 * n), 1e-12)                    # (N, N), sums to ~1
    lr = learning_rate or max(n / early_exaggeration / 4.0, 50.0)
    rng = np.random.default_rng(seed)
    Y = rng.normal(0.0, 1e-4, (n, n_components))
    velocity = np.zeros_like(Y)
    gains = np.ones_like(Y)
    exaggerate_until = min(250, n_iter // 4)
    for it in range(n_iter):
        Pe = P * early_exaggeration if it < exaggerate_until else P
        num = 1.0 / (1.0 + _squared_distances(Y))                   # (N, N) Student-t kernel
        np.fill_diagonal(num, 0.0)
        Q = np.maximum(num / num.sum(), 1e-12)
        W = (Pe - Q) * num                                          # (N, N)
        grad = 4.0 * (np.diag(W.sum(axis=1)) - W) @ Y               # (N, k)
        momentum = 0.5 if it < exaggerate_until else 0.8
        same_sign = np.sign(grad) == np.sign(velocity)
        gains = np.maximum(np.where(same_sign, gains * 0.8, gains + 0.2), 0.01)
        velocity = momentum * velocity - lr * gains * grad
        Y = Y + velocity
        Y = Y - Y.mean(axis=0)
    if return_kl:
        num = 1.0 / (1.0 + _squared_distances(Y))
        np.fill_diagonal(num, 0.0)
        Q = np.maximum(num / num.sum(), 1e-12)
        return Y, float(np.sum(P * np.log(P / Q)))
    return Y
