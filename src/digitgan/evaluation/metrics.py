"""GAN metrics as small pure functions over evaluator features and class probabilities.

    python -m pytest tests/test_metrics.py

Inputs are torch tensors: ``features`` (N, D) and ``probs`` (N, 10) rows that sum to 1.
Computation is in float64 where it matters (covariances, the matrix square root).
"""

from __future__ import annotations

import math

import torch


def mean_cov(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of ``features`` (N, D), in float64."""
    x = features.double()
    mu = x.mean(0)
    xc = x - mu
    return mu, xc.T @ xc / (x.shape[0] - 1)


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh(matrix)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)) (Heusel et al. 2017).

    tr((C1 C2)^(1/2)) is computed as tr((C1^(1/2) C2 C1^(1/2))^(1/2)): the two matrices
    are similar, and the second is symmetric positive semi-definite, so a symmetric
    eigendecomposition gives it without the complex round-off of a general ``sqrtm``."""
    s1 = _sqrt_psd(cov1.double())
    middle = s1 @ cov2.double() @ s1
    tr_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    diff = mu1.double() - mu2.double()
    return float(diff @ diff + torch.trace(cov1) + torch.trace(cov2) - 2 * tr_sqrt)


def fid(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    return frechet_distance(*mean_cov(features_a), *mean_cov(features_b))


def kid(
    features_a: torch.Tensor,
    features_b: torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018): the unbiased MMD^2 estimate with the
    cubic polynomial kernel k(x, y) = (x.y / D + 1)^3, averaged over random subsets.
    Returns (mean, standard deviation) over the subsets."""
    a, b = features_a.double(), features_b.double()
    m = min(subset_size, a.shape[0], b.shape[0])
    d = a.shape[1]
    rng = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        x = a[torch.randperm(a.shape[0], generator=rng)[:m]]
        y = b[torch.randperm(b.shape[0], generator=rng)[:m]]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        mmd = (
            (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
            + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
            - 2 * kxy.mean()
        )
        values.append(float(mmd))
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return mean, std


def inception_score(probs: torch.Tensor, eps: float = 1e-12) -> float:
    """exp(E_x KL(p(y|x) || p(y))) with the evaluator's class probabilities (Salimans et al.
    2016), over the whole set. 1 when every prediction is the same; 10 at best for digits."""
    p = probs.double()
    p_y = p.mean(0, keepdim=True)
    kl = (p * ((p + eps).log() - (p_y + eps).log())).sum(1)
    return float(kl.mean().exp())


def _kth_neighbour_radii(x: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    radii = []
    for rows in x.split(chunk):
        d = torch.cdist(rows, x)  # (chunk, N); each row's own distance 0 is among the k + 1
        radii.append(d.kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def _covered(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int) -> torch.Tensor:
    hits = []
    for rows in points.split(chunk):
        hits.append((torch.cdist(rows, centres) <= radii).any(1))
    return torch.cat(hits)


def precision_recall(
    real: torch.Tensor, fake: torch.Tensor, k: int = 3, chunk: int = 1000
) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019). Each set's manifold is the
    union of balls around its points reaching their k-th nearest neighbour in that set.
    Precision: share of fakes inside the real manifold. Recall: share of reals inside the
    fake manifold."""
    real, fake = real.float(), fake.float()
    real_radii = _kth_neighbour_radii(real, k, chunk)
    fake_radii = _kth_neighbour_radii(fake, k, chunk)
    precision = _covered(fake, real, real_radii, chunk).double().mean()
    recall = _covered(real, fake, fake_radii, chunk).double().mean()
    return float(precision), float(recall)


def digit_histogram(probs: torch.Tensor) -> dict[str, object]:
    """Shares of predicted digits, their entropy over log(10) (1 = perfectly balanced, 0 =
    one digit only: mode collapse) and the smallest share."""
    counts = torch.bincount(probs.argmax(1), minlength=10).double()
    shares = counts / counts.sum()
    nz = shares[shares > 0]
    entropy = float(-(nz * nz.log()).sum() / math.log(10))
    return {
        "shares": [round(float(s), 6) for s in shares],
        "entropy": entropy,
        "min_share": float(shares.min()),
    }


def confidence(probs: torch.Tensor, threshold: float = 0.9) -> dict[str, float]:
    """Mean top-class probability, and the share of samples whose top class exceeds ``threshold``."""
    top = probs.max(1).values.double()
    return {"mean": float(top.mean()), "share_above": float((top > threshold).double().mean())}


def conditional_accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of samples the evaluator classifies as the digit they were asked to be."""
    return float((probs.argmax(1) == labels).double().mean())


def per_digit_accuracy(probs: torch.Tensor, labels: torch.Tensor) -> list[float | None]:
    """For each digit 0-9, the share of its samples read as that digit (None where no
    sample has that label): a mean over digits hides one that fails."""
    right = (probs.argmax(1) == labels).double()
    counts = torch.bincount(labels, minlength=10)[:10]
    hits = torch.bincount(labels, weights=right, minlength=10)[:10]
    return [float(h / c) if c else None for h, c in zip(hits, counts, strict=True)]


def all_metrics(
    features: torch.Tensor,
    probs: torch.Tensor,
    ref_features: torch.Tensor,
    labels: torch.Tensor | None = None,
    seed: int = 0,
) -> dict[str, object]:
    """Every metric of a sample set against a reference set of real digits."""
    kid_mean, kid_std = kid(features, ref_features, seed=seed)
    precision, recall = precision_recall(ref_features, features)
    hist = digit_histogram(probs)
    conf = confidence(probs)
    out: dict[str, object] = {
        "n": int(features.shape[0]),
        "fid": fid(features, ref_features),
        "kid": kid_mean,
        "kid_std": kid_std,
        "is": inception_score(probs),
        "precision": precision,
        "recall": recall,
        "digit_shares": hist["shares"],
        "digit_entropy": hist["entropy"],
        "min_digit_share": hist["min_share"],
        "mean_confidence": conf["mean"],
        "confident_share": conf["share_above"],
    }
    if labels is not None:
        out["conditional_accuracy"] = conditional_accuracy(probs, labels)
        out["digit_accuracy"] = per_digit_accuracy(probs, labels)
    return out
