"""The tutorial's own code (shared/reference/mnist-gan-tutorial.md), kept as the reference
that digitgan's ``seed`` preset is tested and benchmarked against. Not used for training.

    python bench/seed_vs_tutorial.py --data-root ../shared/data

Written as the tutorial writes it: ``nn.Sequential`` networks with a final ``Sigmoid`` and
``nn.BCELoss``, labels made every step, G's graph built in the D step, ``reset_grad``, and
(in :class:`TutorialLoop`) a ``DataLoader`` over torchvision's MNIST with ``ToTensor`` +
``Normalize``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

LATENT_SIZE, HIDDEN_SIZE, IMAGE_SIZE, BATCH_SIZE = 64, 256, 784, 100


def tutorial_networks() -> tuple[nn.Sequential, nn.Sequential]:
    """(G, D) exactly as the tutorial builds them."""
    D = nn.Sequential(
        nn.Linear(IMAGE_SIZE, HIDDEN_SIZE),
        nn.LeakyReLU(0.2),
        nn.Linear(HIDDEN_SIZE, HIDDEN_SIZE),
        nn.LeakyReLU(0.2),
        nn.Linear(HIDDEN_SIZE, 1),
        nn.Sigmoid(),
    )
    G = nn.Sequential(
        nn.Linear(LATENT_SIZE, HIDDEN_SIZE),
        nn.ReLU(),
        nn.Linear(HIDDEN_SIZE, HIDDEN_SIZE),
        nn.ReLU(),
        nn.Linear(HIDDEN_SIZE, IMAGE_SIZE),
        nn.Tanh(),
    )
    return G, D


class TutorialStep:
    """One iteration of the tutorial's inner loop, with the noise passed in so that tests can
    feed both implementations the same z."""

    def __init__(self, G: nn.Module, D: nn.Module, device: torch.device | str = "cpu") -> None:
        self.G, self.D, self.device = G, D, torch.device(device)
        self.criterion = nn.BCELoss()
        self.d_optimizer = torch.optim.Adam(D.parameters(), lr=0.0002)
        self.g_optimizer = torch.optim.Adam(G.parameters(), lr=0.0002)

    def reset_grad(self) -> None:
        self.d_optimizer.zero_grad()
        self.g_optimizer.zero_grad()

    def __call__(self, images: torch.Tensor, z_d: torch.Tensor, z_g: torch.Tensor) -> tuple:
        G, D, criterion, device = self.G, self.D, self.criterion, self.device
        batch_size = images.shape[0]
        images = images.reshape(batch_size, -1).to(device)
        real_labels = torch.ones(batch_size, 1).to(device)
        fake_labels = torch.zeros(batch_size, 1).to(device)
        outputs = D(images)
        d_loss_real = criterion(outputs, real_labels)
        real_score = outputs
        fake_images = G(z_d.to(device))
        outputs = D(fake_images)
        d_loss_fake = criterion(outputs, fake_labels)
        fake_score = outputs
        d_loss = d_loss_real + d_loss_fake
        self.reset_grad()
        d_loss.backward()
        self.d_optimizer.step()
        fake_images = G(z_g.to(device))
        outputs = D(fake_images)
        g_loss = criterion(outputs, real_labels)
        self.reset_grad()
        g_loss.backward()
        self.g_optimizer.step()
        return d_loss, g_loss, real_score, fake_score, fake_images


class TutorialLoop:
    """The tutorial's training loop with its data pipeline; ``run(steps)`` trains that many
    steps (a fresh shuffled pass each call) and reads the logged scalars every 200 steps."""

    def __init__(self, data_root: str, device: torch.device | str = "cpu") -> None:
        import torchvision
        from torchvision import transforms

        transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean=0.5, std=0.5)])
        mnist = torchvision.datasets.MNIST(data_root, train=True, transform=transform, download=False)
        self.data_loader = torch.utils.data.DataLoader(dataset=mnist, batch_size=BATCH_SIZE, shuffle=True)
        G, D = tutorial_networks()
        self.device = torch.device(device)
        self.step = TutorialStep(G.to(self.device), D.to(self.device), self.device)

    def run(self, steps: int) -> None:
        for i, (images, _) in enumerate(self.data_loader):
            if i == steps:
                break
            z_d = torch.randn(BATCH_SIZE, LATENT_SIZE).to(self.device)
            z_g = torch.randn(BATCH_SIZE, LATENT_SIZE).to(self.device)
            d_loss, g_loss, real_score, fake_score, _ = self.step(images, z_d, z_g)
            if (i + 1) % 200 == 0:
                _ = (d_loss.item(), g_loss.item(), real_score.mean().item(), fake_score.mean().item())
