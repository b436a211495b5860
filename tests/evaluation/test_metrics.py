"""Each metric against a reference computation or a case with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import linalg

from digitgan.evaluation import metrics

pytestmark = pytest.mark.floats  # .ci/run reruns these on every CPU kernel path


def scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook computation (as in pytorch-fid): scipy's sqrtm of the covariance product."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 16)) @ rng.normal(size=(16, 16))
    b = rng.normal(loc=0.5, size=(1500, 16)) @ rng.normal(size=(16, 16)) + 1
    ours = metrics.fid(torch.from_numpy(a), torch.from_numpy(b))
    assert ours == pytest.approx(scipy_fid(a, b), rel=1e-7)
    assert ours > 1  # a real difference, not a degenerate case


def test_fid_of_a_set_with_itself_is_zero():
    x = torch.randn(1000, 32, dtype=torch.float64) * 3
    assert abs(metrics.fid(x, x)) < 1e-8


def test_fid_of_a_shift_is_its_squared_length():
    x = torch.randn(1000, 8, dtype=torch.float64)
    shift = torch.arange(8, dtype=torch.float64)
    assert metrics.fid(x, x + shift) == pytest.approx(float(shift @ shift), rel=1e-9)


def test_inception_score_bounds():
    uniform = torch.full((500, 10), 0.1)
    assert metrics.inception_score(uniform) == pytest.approx(1.0)
    confident_balanced = torch.eye(10).repeat(50, 1)
    assert metrics.inception_score(confident_balanced) == pytest.approx(10.0, rel=1e-6)
    collapsed = torch.eye(10)[torch.zeros(500, dtype=torch.long)]
    assert metrics.inception_score(collapsed) == pytest.approx(1.0)
    two_digits = torch.eye(10)[torch.arange(500) % 2]
    assert metrics.inception_score(two_digits) == pytest.approx(2.0, rel=1e-6)


def naive_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_the_unbiased_estimator():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 4)), rng.normal(loc=0.3, size=(30, 4))
    mean, std = metrics.kid(torch.from_numpy(x), torch.from_numpy(y), subsets=3, subset_size=30)
    assert mean == pytest.approx(naive_mmd2(x, y), rel=1e-9)  # full-size subsets: all equal
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_near_zero_for_one_distribution_positive_for_two():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(2000, 16, generator=gen), torch.randn(2000, 16, generator=gen)
    same, _ = metrics.kid(a, b, subsets=20, subset_size=500)
    shifted, _ = metrics.kid(a, b + 0.5, subsets=20, subset_size=500)
    assert abs(same) < 0.02 < shifted


def naive_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    def radii(x):
        d = np.linalg.norm(x[:, None] - x[None], axis=2)
        return np.sort(d, axis=1)[:, k]  # index 0 is the point itself

    def covered(p, c, r):
        d = np.linalg.norm(p[:, None] - c[None], axis=2)
        return (d <= r[None]).any(1).mean()

    return covered(fake, real, radii(real)), covered(real, fake, radii(fake))


def test_precision_recall_match_brute_force():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(300, 5))
    fake = rng.normal(loc=1.0, scale=1.0, size=(250, 5))
    ours = metrics.precision_recall(torch.from_numpy(real), torch.from_numpy(fake), k=3, chunk=64)
    ref = naive_precision_recall(real.astype(np.float32), fake.astype(np.float32), 3)
    assert ours == pytest.approx(ref, abs=1e-9)
    assert 0.05 < ours[0] < 0.95 and 0.05 < ours[1] < 0.95  # a case that is neither 0 nor 1


def test_precision_recall_constructed_sets():
    line = torch.stack([torch.arange(100.0), torch.zeros(100)], 1)  # points 0..99 on a line
    assert metrics.precision_recall(line, line) == (1.0, 1.0)
    far = line + torch.tensor([0.0, 1000.0])
    assert metrics.precision_recall(line, far) == (0.0, 0.0)
    # Fakes cover only the first half of the reals: all fakes are real-looking (precision 1),
    # and the fake balls (radius 3) reach reals 0..52: recall 53/100.
    assert metrics.precision_recall(line, line[:50]) == (1.0, 0.53)


def test_digit_histogram_and_confidence():
    probs = torch.eye(10)[torch.tensor([0] * 50 + [1] * 50)]
    hist = metrics.digit_histogram(probs)
    assert hist["shares"][:3] == [0.5, 0.5, 0.0]
    assert hist["entropy"] == pytest.approx(math.log(2) / math.log(10))
    assert hist["min_share"] == 0.0
    assert metrics.digit_histogram(torch.eye(10).repeat(3, 1))["entropy"] == pytest.approx(1.0)
    p = torch.tensor([[0.95, 0.05] + [0.0] * 8, [0.5, 0.5] + [0.0] * 8])
    assert metrics.confidence(p) == pytest.approx({"mean": 0.725, "share_above": 0.5})
    assert metrics.conditional_accuracy(p, torch.tensor([0, 1])) == 0.5


def test_per_digit_accuracy_shows_the_digit_a_mean_hides():
    # 1s read as 7s a third of the time; every other digit right; no 9s at all
    labels = torch.tensor([d for d in range(9) for _ in range(3)])
    read = labels.clone()
    read[3] = 7  # the first of the three 1s
    accuracy = metrics.per_digit_accuracy(torch.eye(10)[read], labels)
    assert accuracy[1] == pytest.approx(2 / 3) and accuracy[9] is None
    assert all(a == 1.0 for d, a in enumerate(accuracy) if d not in (1, 9))
    assert metrics.conditional_accuracy(torch.eye(10)[read], labels) == pytest.approx(26 / 27)
    feats = torch.randn(27, 4)
    assert metrics.all_metrics(feats, torch.eye(10)[read], feats, labels=labels)["digit_accuracy"] == accuracy
