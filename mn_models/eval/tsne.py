"""t-SNE of a few hundred points for `mn eval tsne`: scikit-learn's exact ``TSNE``.

    Y = tsne(X, perplexity=30, seed=0)      # X (N, D) -> Y (N, 2)

This wrapper only checks the input (clear errors instead of scikit-learn's), caps the
perplexity at (N - 1) / 3 so small held-out sets still embed, and fixes the settings: exact
gradients (N is small), PCA initialisation, learning rate "auto", seeded.
"""
from __future__ import annotations

import numpy as np


def tsne(X, n_components: int = 2, perplexity: float = 30.0, n_iter: int = 1000,
         seed: int = 0, return_kl: bool = False):
    """Embed X (N, D) into (N, n_components); with return_kl also KL(P || Q) at the end."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 3:
        raise ValueError(f"t-SNE needs a (N >= 3, D) array, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("t-SNE input contains NaN or inf")
    if n_iter < 250:
        raise ValueError(f"t-SNE needs n_iter >= 250 (scikit-learn's minimum), got {n_iter}")
    from sklearn.manifold import TSNE
    model = TSNE(n_components=n_components, perplexity=float(min(perplexity, (len(X) - 1) / 3.0)),
                 max_iter=int(n_iter), method="exact", init="pca", learning_rate="auto",
                 random_state=seed)
    Y = model.fit_transform(X)
    return (Y, float(model.kl_divergence_)) if return_kl else Y
