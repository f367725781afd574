"""Statistics come from SciPy / scikit-learn: the t quantiles equal the values the replaced
hand-written code gave (recorded before the change), and t-SNE is scikit-learn's."""
import numpy as np
import pytest

from mn_models.eval.stats import mean_ci, t_quantile
from mn_models.eval.tsne import tsne

# t_quantile(confidence, df) of the former closed-form + bisection implementation
RECORDED = {(0.95, 1): 12.706204736, (0.95, 2): 4.30265273, (0.95, 3): 3.182446305,
            (0.95, 5): 2.570581836, (0.95, 7): 2.364624252, (0.95, 10): 2.228138852,
            (0.95, 19): 2.093024054, (0.95, 49): 2.009575237, (0.95, 99): 1.984216952,
            (0.99, 1): 63.656741163, (0.99, 3): 5.84090931, (0.99, 10): 3.169272673}


@pytest.mark.parametrize("key", sorted(RECORDED))
def test_t_quantile_equals_the_recorded_values(key):
    assert t_quantile(*key) == pytest.approx(RECORDED[key], rel=1e-9)


def test_mean_ci_half_width_for_five_seeds():
    mean, half = mean_ci([0.7, 0.8, 0.9, 0.6, 1.0])
    assert mean == pytest.approx(0.8)
    assert half == pytest.approx(2.776445105 * np.std([0.7, 0.8, 0.9, 0.6, 1.0], ddof=1)
                                 / np.sqrt(5), rel=1e-9)


@pytest.mark.parametrize("bad", [(0.0, 3), (1.0, 3), (0.95, 0), (0.95, 2.5)])
def test_t_quantile_rejects_bad_arguments(bad):
    with pytest.raises(ValueError):
        t_quantile(*bad)


def test_tsne_is_scikit_learns_exact_tsne():
    from sklearn.manifold import TSNE
    X = np.random.default_rng(1).normal(size=(30, 5))
    ours = tsne(X, perplexity=5, n_iter=300, seed=3)
    ref = TSNE(perplexity=5, max_iter=300, method="exact", init="pca", learning_rate="auto",
               random_state=3).fit_transform(X)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-8)


def test_tsne_caps_perplexity_for_small_sets_and_rejects_bad_input():
    Y = tsne(np.random.default_rng(0).normal(size=(7, 4)), perplexity=30, n_iter=250)
    assert Y.shape == (7, 2) and np.isfinite(Y).all()
    with pytest.raises(ValueError, match="NaN"):
        tsne(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="n_iter >= 250"):
        tsne(np.zeros((5, 2)), n_iter=100)
