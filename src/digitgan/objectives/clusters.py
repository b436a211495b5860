"""Self-conditioning without labels: k-means clusters of the training digits' pixels.

    python -c "from digitgan.data.digits import load_dataset; from digitgan.objectives.clusters import pixel_clusters; print(pixel_clusters(load_dataset('mnist', '../shared/data').images, 10).shares)"

A conditional GAN draws far better digits than an unconditional one (README: FID 7.5 vs
90), because its discriminator judges each digit against its own kind. Self-conditioned
GANs (Liu et al. 2020, "Diverse Image Generation via Self-Conditioned GANs") keep that
advantage without labels: they condition G and D on clusters of the data instead. Here the
clusters are k-means (k-means++ seeding, Arthur & Vassilvitskii 2007; then Lloyd's
iterations) of the raw pixels, computed once before training; the labels are never read.
A conditional run can split each digit the same way (``digit_clusters``): its D then judges
a digit against the digits drawn most like it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from digitgan.basics.errors import UserError

ITERATIONS = 20  # Lloyd's iterations: the assignment barely moves after ~15 on MNIST
CHUNK = 8192  # rows per distance computation, so that memory stays flat


@dataclass
class Clusters:
    assignment: torch.Tensor  # (N,) int64: the cluster of every training digit
    shares: torch.Tensor  # (K,) float32: each cluster's share of the data, summing to 1

    def describe(self, k: int, conditional: bool, seconds: float, labels: torch.Tensor) -> str:
        """The log's line on ``k`` clusters (per digit when ``conditional``): how long they
        took, their shares, and for an unconditional run how far they agree with the
        ``labels`` it never reads."""
        shares = self.shares
        if conditional:
            return (
                f"{k} k-means clusters of the pixels within each digit in {seconds:.1f} s (D judges "
                f"a digit with its cluster, G picks the cluster from its noise; shares "
                f"{shares.min():.2%} to {shares.max():.2%} of the data)"
            )
        return (
            f"{k} k-means clusters of the pixels in {seconds:.1f} s (no labels used; they agree "
            f"with the digits' labels on {self.agreement(labels):.0%} of the data; "
            f"cluster shares {shares.min():.1%} to {shares.max():.1%})"
        )

    def agreement(self, labels: torch.Tensor) -> float:
        """How much of the data lies in its cluster's most common digit (the clusters'
        purity): a reading aid for the log, never an input to training."""
        k = self.shares.numel()
        counts = torch.zeros(k, 10, dtype=torch.int64)
        counts.index_put_((self.assignment, labels.long()), torch.tensor(1), accumulate=True)
        return counts.max(1).values.sum().item() / labels.numel()


def nearest(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """(N,) index of the nearest centre (K, D) to every row of x (N, D)."""
    sq = (centres * centres).sum(1)
    # ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2; ||x||^2 is the same for every centre
    return torch.cat([(sq - 2 * chunk @ centres.T).argmin(1) for chunk in x.split(CHUNK)])


def kmeans_plus_plus(x: torch.Tensor, k: int, rng: torch.Generator) -> torch.Tensor:
    """k starting centres, each drawn with probability proportional to its squared
    distance from the nearest centre drawn so far."""
    centres = [x[torch.randint(len(x), (1,), generator=rng)]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(k - 1):
        # every row already a centre (fewer distinct digits than k): any row, alike
        weights = d2 if d2.sum() > 0 else torch.ones_like(d2)
        centres.append(x[torch.multinomial(weights, 1, generator=rng)])
        d2 = torch.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    return torch.cat(centres)


def kmeans(x: torch.Tensor, k: int, seed: int = 0, iterations: int = ITERATIONS) -> torch.Tensor:
    """(N,) cluster of every row of x (N, D) float32 after k-means++ and Lloyd's iterations.
    A centre that loses all its points keeps its place."""
    centres = kmeans_plus_plus(x, k, torch.Generator().manual_seed(seed))
    for _ in range(iterations):
        assignment = nearest(x, centres)
        sums = torch.zeros_like(centres).index_add_(0, assignment, x)
        counts = torch.bincount(assignment, minlength=k)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    return nearest(x, centres)


def pixel_clusters(images_u8: torch.Tensor, k: int, seed: int = 0, what: str = "training digits") -> Clusters:
    """k-means of digits (N, 28, 28) uint8 by their pixels in [0, 1], on the CPU; at least
    k of them, else a user error that calls them ``what``."""
    if len(images_u8) < k:
        raise UserError(
            f"{len(images_u8)} {what} are fewer than the {k} clusters asked for: "
            "lower --clusters or raise --limit"
        )
    x = images_u8.cpu().reshape(len(images_u8), -1).float() / 255
    assignment = kmeans(x, k, seed)
    return from_assignment(assignment, k)


def digit_clusters(images_u8: torch.Tensor, digits: torch.Tensor, k: int, seed: int = 0) -> Clusters:
    """k-means within each digit, for a conditional run: class digit * k + cluster, shares
    (10 k,) digit-major. Each digit needs at least k examples."""
    digits = digits.cpu()
    assignment = torch.empty(len(digits), dtype=torch.int64)
    for d in range(10):
        rows = (digits == d).nonzero().view(-1)
        mine = images_u8[rows.to(images_u8.device)]
        assignment[rows] = d * k + pixel_clusters(mine, k, seed, f"training examples of digit {d}").assignment
    return from_assignment(assignment, 10 * k)


def from_assignment(assignment: torch.Tensor, k: int) -> Clusters:
    counts = torch.bincount(assignment.cpu().long(), minlength=k).float()
    return Clusters(assignment.cpu().long(), counts / counts.sum())


def fit_clusters(
    images_u8: torch.Tensor, digits: torch.Tensor, k: int, conditional: bool, seed: int
) -> Clusters:
    """The k-means clusters self-conditioning (--clusters) draws from: of the training digits,
    or of each digit when ``conditional``, seeded by the run's seed."""
    if conditional:
        return digit_clusters(images_u8, digits, k, seed)
    return pixel_clusters(images_u8, k, seed)
