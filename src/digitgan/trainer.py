"""The GAN family's training step and state (every preset but cyclegan): the networks, their
optimisers, the EMA of G, the noise source and every random number generator, saved and
restored as one state; and the generator-state helpers every family shares.

    python -c "from digitgan.presets import make_config; from digitgan.trainer import Trainer; Trainer(make_config('seed'), __import__('torch').device('cpu'))"

The loop (training_loop.py) owns epochs, batches, logging, checkpoints and signals; a
:class:`Trainer` owns one step and the tensors that a resume needs.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import torch

from digitgan import distributed
from digitgan.arithmetic import Arithmetic
from digitgan.checkpoint import load_module_tensors, module_tensors, optimizer_state_dict, optimizer_tensors
from digitgan.clusters import Clusters, digit_clusters, pixel_clusters
from digitgan.config import TrainConfig
from digitgan.draw import generate, sample_labels
from digitgan.ema import EMA, with_standing_statistics
from digitgan.errors import UserError
from digitgan.losses import ClassRecorder, build_objective, r1_penalty
from digitgan.mlp_step import fast_step_for
from digitgan.networks import build_networks
from digitgan.optim import LeanAdam


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    return torch.device(name)


def set_requires_grad(params: list[torch.nn.Parameter], flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


def seed_everything(seed: int) -> None:
    """Weight initialisation, and Python's and NumPy's global generators for anything that
    draws from them (they are saved in the state, so a resume continues their streams)."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def global_rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    """The global generators' states (torch's CPU and CUDA ones, Python's, NumPy's) as tensors
    and JSON, for a state file."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    py_state = random.getstate()
    np_state = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
    meta = {
        "rng_python": [py_state[0], list(py_state[1]), py_state[2]],
        "rng_numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }
    return tensors, meta


def load_global_rng_state(tensors: dict[str, torch.Tensor], meta: dict, cuda: bool) -> None:
    """Undo :func:`global_rng_state` (the CUDA generators only when ``cuda``)."""
    torch.set_rng_state(tensors["rng.torch"])
    version, py_state, gauss = meta["rng_python"]
    random.setstate((version, tuple(py_state), gauss))
    name, pos, has_gauss, cached = meta["rng_numpy"]
    np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    if cuda:
        load_cuda_rng_state(tensors)


def load_cuda_rng_state(tensors: dict[str, torch.Tensor]) -> None:
    states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if states:
        torch.cuda.set_rng_state_all(states)


class Trainer:
    """The networks, their optimisers, EMA and the noise source; :meth:`step` is one
    discriminator update, followed by a generator update every ``n_critic``-th call.
    ``fast=False`` trains the tutorial's GAN through autograd instead of mlp_step.py (for
    tests and benchmarks)."""

    def __init__(
        self, cfg: TrainConfig, device: torch.device, fast: bool = True, total_steps: int | None = None
    ) -> None:
        self.cfg, self.device, self.total_steps = cfg, device, total_steps
        seed_everything(cfg.seed)
        self.noise_rng = torch.Generator(device=device).manual_seed(cfg.seed + 2)
        self.G, self.D = (m.to(device) for m in build_networks(cfg))
        # The tutorial's MLPs keep their fp32 hand-written step; "auto" means fp32 there.
        self.arith = Arithmetic(cfg.precision if cfg.convolutional else "fp32", cfg.channels_last, device)
        self.arith.layout(self.G, self.D)
        self.objective = build_objective(cfg.loss, cfg.gp_lambda, self.noise_rng, cfg.label_smoothing)
        # Fused Adam (one pass over memory), stepped without per-call bookkeeping: see optim.py.
        reduce = distributed.reduce_gradients  # under torchrun: the mean over the ranks
        self.opt_g = LeanAdam(self.G.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), reduce=reduce)
        lr_d = cfg.lr if cfg.lr_d is None else cfg.lr_d  # TTUR (Heusel et al. 2017) when they differ
        self.opt_d = LeanAdam(self.D.parameters(), lr=lr_d, betas=(cfg.beta1, cfg.beta2), reduce=reduce)
        self.d_params = list(self.D.parameters())
        self.ema = EMA(self.G, cfg.ema_decay) if cfg.ema_decay > 0 else None
        # GPUs under torchrun: BatchNorm over the global batch. After the EMA copy, which keeps
        # plain BatchNorm: its standing statistics are gathered on rank 0 alone.
        distributed.sync_batchnorm(self.G, self.D)
        self._sampler: tuple[int, torch.nn.Module | None] = (-1, None)
        self.d_steps = 0
        self.last_g: dict[str, torch.Tensor] = {}  # outputs of the latest G step
        # The tutorial's GAN takes a hand-written backward (mlp_step.py): same updates, faster.
        # The noise source is looked up per call, so a replaced ``trainer.noise`` is honoured.
        self.fast_step = (
            fast_step_for(
                self.G, self.D, self.objective, cfg.n_critic, self.opt_g, self.opt_d, lambda b: self.noise(b)
            )
            # it adds no other term, and draws fakes twice a step as the default step does
            if fast and cfg.only_the_objective and not cfg.shared_fakes
            else None
        )

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Everything needed to continue bit for bit: weights, EMA, optimisers, step counters
        and the random number generators' states, as tensors and JSON."""
        tensors = {**module_tensors("G", self.G), **module_tensors("D", self.D)}
        meta: dict = {"d_steps": self.d_steps, "device": self.device.type}
        if self.ema is not None:
            tensors.update(module_tensors("G_ema", self.ema.module))
            meta["ema_updates"] = self.ema.updates
        for name, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            t, m = optimizer_tensors(name, opt.state_dict())
            tensors.update(t)
            meta[name] = m
        tensors["rng.noise"] = self.noise_rng.get_state()
        rng_tensors, rng_meta = global_rng_state()
        tensors.update(rng_tensors)
        meta.update(rng_meta)
        return tensors, meta

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict, path: Path) -> str | None:
        """Continue from a saved state, moved to this trainer's device. Returns a note when
        the state was saved on another kind of device: weights and optimiser states carry
        over, but a CUDA noise generator's state means nothing to the CPU's (and back), so
        the noise stream restarts from the seed and the step count."""
        load_module_tensors("G", self.G, tensors, path)
        load_module_tensors("D", self.D, tensors, path)
        if self.ema is not None:
            load_module_tensors("G_ema", self.ema.module, tensors, path)
            self.ema.updates = meta["ema_updates"]
        self.opt_g.load_state_dict(optimizer_state_dict("opt_g", tensors, meta["opt_g"]))
        self.opt_d.load_state_dict(optimizer_state_dict("opt_d", tensors, meta["opt_d"]))
        self.d_steps = meta["d_steps"]
        load_global_rng_state(tensors, meta, cuda=False)
        saved_on = meta.get("device", "cpu")
        if saved_on != self.device.type:
            self.noise_rng.manual_seed(self.cfg.seed + 2 + self.d_steps)
            return (
                f"the state was saved on {saved_on} and continues on {self.device.type}: weights and "
                "optimiser states carry over; the noise restarts from the seed and step count, so "
                f"the rest of the run is not bit-identical to one that stayed on {saved_on}"
            )
        self.noise_rng.set_state(tensors["rng.noise"])
        if self.device.type == "cuda":
            load_cuda_rng_state(tensors)
        return None

    def finite(self) -> bool:
        """Every weight of G, D (and the EMA copy) is finite: nothing else may be saved."""
        nets = [self.G, self.D] + ([self.ema.module] if self.ema is not None else [])
        return all(bool(torch.isfinite(p).all()) for net in nets for p in net.parameters())

    # --- what the loop asks of every family ---------------------------------------------

    def scalars(self, out: dict[str, torch.Tensor]) -> dict[str, float]:
        """The log line's numbers for one step's output (the tutorial's four)."""
        score = self.objective.score
        return {
            "d_loss": out["d_loss"].item(),
            "g_loss": out["g_loss"].item() if "g_loss" in out else math.nan,
            "D(x)": score(out["real_logits"]).item(),
            "D(G(z))": score(out["fake_logits"]).item(),
        }

    def batch_statistics(self) -> list[torch.Tensor]:
        """The buffers each rank gathers from its own slice under torchrun (BatchNorm's running
        statistics of G, D and the EMA copy), which the loop averages over ranks at a save."""
        modules = [self.G, self.D] + ([self.ema.module] if self.ema is not None else [])
        return [b for m in modules for b in m.buffers() if b.is_floating_point()]

    def snapshot(self) -> dict[str, torch.nn.Module]:
        """The inference weights, by file name: G, D and the EMA copy of G (with its own
        BatchNorm statistics)."""
        return {"G": self.G, "D": self.D, **({"G_ema": self.sampler} if self.ema is not None else {})}

    def fixed_images(self) -> tuple[torch.Tensor, int]:
        """100 digits from the same noise every epoch (rows are digits 0-9 when
        conditional), and the grid's row length."""
        cfg = self.cfg
        labels = torch.arange(100) // 10 if cfg.conditional else None
        return generate(self.sampler, 100, seed=cfg.seed + 3, latent_dim=cfg.latent_dim, labels=labels), 10

    def eval_images(self, n: int) -> torch.Tensor:
        """n digits from fixed noise for the evaluation during training, (n, 1, 28, 28)."""
        labels = sample_labels(self.cfg, n)
        return generate(self.sampler, n, seed=self.cfg.seed, latent_dim=self.cfg.latent_dim, labels=labels)

    @property
    def sampler(self) -> torch.nn.Module:
        """The generator to draw samples with: the EMA copy when there is one, with its own
        BatchNorm statistics (set once per G update count)."""
        if self.ema is None:
            return self.G
        if self._sampler[0] != self.ema.updates:
            self._sampler = (self.ema.updates, with_standing_statistics(self.ema.module, self.cfg))
        return self._sampler[1]

    def noise(self, batch: int) -> torch.Tensor:
        """This rank's ``batch`` rows of noise, sliced from one draw for the global batch."""
        rows = distributed.global_rows(batch)
        z = torch.randn(rows, self.cfg.latent_dim, device=self.device, generator=self.noise_rng)
        return distributed.local_rows(z)

    def latents(self, batch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """G's inputs for one batch: noise, and uniform digits for conditional models (None
        otherwise). D sees ``G.classes_of`` them: the digits, or the clusters G picks."""
        labels = None
        if self.cfg.conditional:  # drawn before the noise: the streams' order since the first release
            rows = distributed.global_rows(batch)
            labels = distributed.local_rows(
                torch.randint(0, 10, (rows,), device=self.device, generator=self.noise_rng)
            )
        return self.noise(batch), labels

    def paired(
        self, z: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The batch's second half draws the same digits (or clusters) as its first, with
        other noise: the pairs the mode-seeking term compares."""
        h = z.shape[0] // 2
        z = z.clone()
        if self.cfg.clusters:
            z[h : 2 * h, 0] = z[:h, 0]  # z_0 picks the cluster
        if labels is not None:
            labels = torch.cat([labels[:h], labels[:h], labels[2 * h :]])
        return z, labels

    def mode_seeking_term(self, z: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | float:
        """Mode seeking (Mao et al. 2019): lambda / (mean |G(z1) - G(z2)| / mean |z1 - z2|)
        over the pairs of :meth:`paired`, so that G cannot map different noise for one digit
        to one drawing."""
        if not self.cfg.mode_seeking:
            return 0.0
        h = z.shape[0] // 2
        ratio = (fake[:h] - fake[h : 2 * h]).abs().mean() / (z[:h] - z[h : 2 * h]).abs().mean()
        return self.cfg.mode_seeking / (ratio + 1e-5)

    def g_keep(self, batch: int) -> int | None:
        """Top-k training (Sinha et al. 2020): how many of this G step's ``batch`` fakes G
        learns from, a share going linearly from 1 to ``cfg.top_k`` over the run's D steps
        (``cfg.top_k`` from the start when the run's length is not given); None (all) when
        off. Under torchrun each rank keeps its share of its own slice."""
        if self.cfg.top_k == 1:
            return None
        progress = min(1.0, self.d_steps / self.total_steps) if self.total_steps else 1.0
        return max(1, round(batch * (1 - (1 - self.cfg.top_k) * progress)))

    def set_cluster_shares(self, shares: torch.Tensor) -> None:
        """Self-conditioning: how often G (and its EMA copy) draws each cluster."""
        for G in [self.G] + ([self.ema.module] if self.ema is not None else []):
            G.set_cluster_shares(shares.to(self.device))

    def fit_clusters(self, images_u8: torch.Tensor, digits: torch.Tensor) -> Clusters:
        """Self-conditioning: the k-means clusters of the training digits (``cfg.clusters``
        of them, or of each digit when conditional, seeded by ``cfg.seed``), whose shares G
        now draws."""
        k, seed = self.cfg.clusters, self.cfg.seed
        if self.cfg.conditional:
            clusters = digit_clusters(images_u8, digits, k, seed)
        else:
            clusters = pixel_clusters(images_u8, k, seed)
        self.set_cluster_shares(clusters.shares)
        return clusters

    def r1_term(self, real: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | float:
        """The R1 penalty this D step adds, lazily (Karras et al. 2020): every r1_every-th
        step, weighted by r1_every, so that on average it weighs (gamma / 2) per step."""
        cfg = self.cfg
        if cfg.r1_gamma == 0 or self.d_steps % cfg.r1_every != 0:
            return 0.0
        return cfg.r1_gamma / 2 * cfg.r1_every * r1_penalty(self.D, real, labels)

    def class_term(self, judge, labels: torch.Tensor | None, rows: int) -> torch.Tensor | float:
        """AC-GAN: the weighted class loss of a step's first ``rows`` through ``judge``."""
        if not isinstance(judge, ClassRecorder):
            return 0.0
        return self.cfg.aux_classifier * judge.class_loss(labels, rows)

    def judge(self) -> torch.nn.Module | ClassRecorder:
        """D as the objectives call it: recording its class logits under AC-GAN."""
        return ClassRecorder(self.D) if self.cfg.aux_classifier else self.D

    def d_step(self, real: torch.Tensor, real_labels: torch.Tensor | None, for_g: bool = False):
        """One D update: real -> 1, G(z) -> 0, plus R1 and the class loss where on. No graph
        through G (the tutorial's gradients for G here are discarded before the G step
        anyway), unless ``for_g``: then the fakes are drawn as the G step draws them and keep
        their graph, so that the G step after this one learns from them (--shared-fakes).
        Returns D's loss, its raw outputs on real and fake, and what G drew: (z, labels, fakes)."""
        z, fake_labels = self.draw(real.shape[0], paired=for_g)
        judge = self.judge()
        with self.arith.autocast():
            with torch.set_grad_enabled(for_g):
                fake = self.G(z, fake_labels)
            fake_classes = self.G.classes_of(z, fake_labels)
            d_loss, real_out, fake_out = self.objective.d_loss(
                judge, real, fake.detach(), real_labels, fake_classes
            )
            total = d_loss + self.r1_term(real, real_labels)
            total = total + self.class_term(judge, real_labels, real.shape[0])
        self.opt_d.zero_grad()
        total.backward()
        self.opt_d.step()
        self.d_steps += 1
        return d_loss, real_out, fake_out, (z, fake_labels, fake)

    def draw(self, batch: int, paired: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """G's noise and labels for one batch, in the mode-seeking pairs when ``paired`` and on."""
        z, labels = self.latents(batch)
        if paired and self.cfg.mode_seeking:
            z, labels = self.paired(z, labels)
        return z, labels

    def g_step(self, batch: int, drawn: tuple | None = None) -> None:
        """One G update on a fresh z, target 1, plus mode seeking and the class loss where
        on; D's weights get no gradient here. ``drawn``: the (z, labels, fakes) of the D step
        just taken, fakes with their graph, to learn from instead (--shared-fakes). Then the
        EMA follows G."""
        z, g_labels = drawn[:2] if drawn is not None else self.draw(batch, paired=True)
        set_requires_grad(self.d_params, False)
        judge = self.judge()
        with self.arith.autocast():
            fake = drawn[2] if drawn is not None else self.G(z, g_labels)
            classes = self.G.classes_of(z, g_labels)
            g_loss = self.objective.g_loss(judge, fake, classes, self.g_keep(batch))
            g_loss = g_loss + self.mode_seeking_term(z, fake) + self.class_term(judge, classes, batch)
        self.opt_g.zero_grad()
        g_loss.backward()
        self.opt_g.step()
        set_requires_grad(self.d_params, True)
        self.after_g_update(g_loss, fake.detach())

    def after_g_update(self, g_loss: torch.Tensor, fake: torch.Tensor) -> None:
        """After every G update, by autograd or by the hand-written step: the EMA follows G,
        and the update's loss and fakes are kept for the log until the next one."""
        if self.ema is not None:
            self.ema.update(self.G)
        self.last_g = {"g_loss": g_loss, "fake": fake}

    def g_step_follows(self) -> bool:
        """Whether the next D step is an ``n_critic``-th one, followed by a G step."""
        return (self.d_steps + 1) % self.cfg.n_critic == 0

    def step(self, real: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One D update on ``real`` (B, 1, 28, 28) in [-1, 1] with its ``labels`` (B,), then a G
        update if this is an ``n_critic``-th call. Returns device tensors (no
        synchronisation): losses, D's raw outputs, and the latest G step's fakes."""
        if self.fast_step is not None:
            out = self.fast_step(real)
            self.d_steps += 1
            self.after_g_update(out["g_loss"], out["fake"])
            return out
        B, real = real.shape[0], self.arith.input(real)
        g_follows = self.g_step_follows()
        share = self.cfg.shared_fakes and g_follows
        d_loss, real_out, fake_out, drawn = self.d_step(
            real, labels if self.cfg.label_classes else None, for_g=share
        )
        fake = drawn[2]
        if g_follows:
            self.g_step(B, drawn if share else None)
        return {
            "d_loss": d_loss,
            "real_logits": real_out,
            "fake_logits": fake_out,
            "fake": fake.detach(),
            **self.last_g,
        }
