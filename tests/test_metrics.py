import numpy as np
import pytest
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score

from keras_simplex import metrics


def test_information_content_and_masks_by_hand():
    gt = np.full((1, 4, 4), 0.25)
    gt[0, 1] = [1, 0, 0, 0]
    gt[0, 2] = [0.5, 0.5, 0, 0]
    gt[0, 3] = [0.3, 0.25, 0.25, 0.2]  # 0.0145 bits: neither motif nor background
    info = metrics.information_content(gt)[0]
    np.testing.assert_allclose(info, [0, 2, 1, 0.0145], atol=1e-3)
    motif, background = metrics.motif_and_background(gt)
    assert motif[0].tolist() == [False, True, True, False]
    assert background[0].tolist() == [True, False, False, False]


def test_cosine_similarity_by_hand():
    gt = np.full((2, 2, 4), 0.25)
    gt[:, 0] = [1, 0, 0, 0]  # centred: [.75, -.25, -.25, -.25]
    maps = np.zeros((2, 2, 4))
    maps[0, 0] = [3, -1, -1, -1]  # parallel to the centred truth
    maps[1, 0] = [0, 1, 0, 0]
    expected_1 = -0.25 / np.sqrt(0.75)  # <(0,1,0,0), c> / (|c| * 1), |c| = sqrt(.75)
    np.testing.assert_allclose(metrics.cosine_similarity(maps, gt), [1.0, expected_1])
    np.testing.assert_allclose(metrics.position_cosine(maps, gt)[:, 0], [1.0, expected_1])
    assert metrics.position_cosine(maps, gt)[0, 1] == 0  # zero vectors give 0, not NaN


@pytest.mark.parametrize("seed", range(6))
def test_roc_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random((5, 60)) < 0.3
    scores = np.round(rng.normal(size=(5, 60)) + labels, 1)  # rounding creates ties
    mask = rng.random((5, 60)) < 0.8
    ours = metrics.roc_auc(labels, scores, mask)
    for row in range(5):
        m = mask[row]
        assert ours[row] == pytest.approx(roc_auc_score(labels[row, m], scores[row, m]))
    assert metrics.roc_auc(labels[0], scores[0]) == pytest.approx(roc_auc_score(labels[0], scores[0]))
    assert np.isnan(metrics.roc_auc(np.zeros(5, bool), np.arange(5.0)))


def test_roc_auc_of_non_finite_scores_is_nan():
    """A diverged model's NaN scores are no ranking (each NaN once made its own tie group)."""
    labels = np.array([[0, 1, 0, 1], [0, 1, 0, 1]], bool)
    scores = np.array([[np.nan] * 4, [0.1, 0.9, np.inf, 0.8]])
    assert np.isnan(metrics.roc_auc(labels, scores)).all()
    masked = metrics.roc_auc(labels, scores, mask=np.array([[1, 1, 1, 1], [1, 1, 0, 1]], bool))
    assert np.isnan(masked[0]) and masked[1] == 1.0  # a masked-out infinity takes no part


@pytest.mark.parametrize("seed", range(6))
def test_pr_auc_matches_sklearn_curve_and_trapezoid(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(80) < 0.25
    scores = np.round(rng.normal(size=80) + labels, 1)
    precision, recall, _ = precision_recall_curve(labels, scores)
    assert metrics.pr_auc(labels, scores) == pytest.approx(auc(recall, precision))


def test_pr_auc_small_cases_by_hand():
    assert metrics.pr_auc([1, 1, 0, 0], [4, 3, 2, 1]) == pytest.approx(1.0)
    # Order: pos, neg, pos -> points (r, p): (0, 1), (.5, 1), (.5, .5), (1, 2/3)
    assert metrics.pr_auc([1, 0, 1], [3, 2, 1]) == pytest.approx(0.5 * 1 + 0.5 * (0.5 + 2 / 3) / 2)


def test_interpretability_scores_use_grad_times_input():
    gt = np.full((1, 6, 4), 0.25)
    gt[0, 2] = [1, 0, 0, 0]
    gt[0, 3] = [0, 1, 0, 0]
    x = np.zeros((1, 6, 4))
    x[0, np.arange(6), [0, 1, 0, 1, 2, 3]] = 1
    maps = np.zeros((1, 6, 4))
    maps[0, 2, 0] = maps[0, 3, 1] = 1.0  # high at the motif's observed letters
    maps[0, 0, 1] = 5.0  # large but at an unobserved letter: ignored by grad x input
    result = metrics.interpretability_scores(maps, x, gt)
    assert result["auroc"][0] == 1.0 and result["aupr"][0] == pytest.approx(1.0)


def test_ensemble_dispersion_and_binning():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(3, 2, 5, 4))
    corrected = raw - raw.mean(-1, keepdims=True)
    d_raw, d_corr = metrics.ensemble_dispersion(raw, corrected)
    mean = raw.mean(0)
    np.testing.assert_allclose(d_raw[1, 0, 2], np.linalg.norm(raw[1, 0, 2] - mean[0, 2]))
    np.testing.assert_allclose(d_corr[2, 1, 4], np.linalg.norm(corrected[2, 1, 4] - mean[1, 4]))
    centres, means, counts = metrics.binned_mean(np.array([1.0, 3.0, 10.0]), np.array([1.0, -4.0, 12.0]), width=5)
    assert centres[0] == 2.5 and means[0] == 2.0 and means[2] == 10.0 and np.isnan(means[1])
    assert list(counts[:3]) == [2, 0, 1] and counts.sum() == 3
    # A NaN angle takes part nowhere (it was once counted in the first bin, averaged in the last).
    _, means, counts = metrics.binned_mean(np.array([1.0, 7.0, 90.0]), np.array([np.nan, 2.0, 90.0]), width=5)
    assert counts.sum() == 2 and counts[0] == 1 and counts[-1] == 1 and means[0] == 7.0 and means[-1] == 90.0


def test_average_ranks_equal_scipys_with_ties_and_masks():
    from scipy.stats import rankdata

    rng = np.random.default_rng(5)
    scores = rng.integers(0, 4, (6, 30)).astype(float)  # many ties
    valid = rng.random((6, 30)) > 0.3
    ranks = metrics.average_ranks(scores, valid)
    expected = rankdata(np.where(valid, scores, np.nan), axis=-1, nan_policy="omit")
    np.testing.assert_allclose(ranks[valid], expected[valid])
