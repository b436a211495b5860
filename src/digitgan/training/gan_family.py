"""The GAN family's training step and state (every preset but cyclegan): the networks, their
optimisers, the EMA of G, the noise source and every random number generator, saved and
restored as one state. The terms it adds to the objective are in objectives/techniques.py;
the state's packing, shared with CycleGAN, in training/state.py.

    python -c "from digitgan.config.presets import make_config; from digitgan.training.gan_family import GanFamily; GanFamily(make_config('seed'), __import__('torch').device('cpu'))"

The loop (training/loop.py) owns epochs, batches, logging, checkpoints and signals; a
:class:`GanFamily` owns one step and the tensors that a resume needs.
"""

from __future__ import annotations

from pathlib import Path

import torch

from digitgan.basics import distributed
from digitgan.basics.device import seed_everything, set_requires_grad
from digitgan.config.train_config import TrainConfig
from digitgan.fast.adam import LeanAdam
from digitgan.fast.arithmetic import Arithmetic
from digitgan.models.draw import eval_digits, fixed_grid
from digitgan.models.ema import EMA
from digitgan.models.networks import build_networks
from digitgan.objectives import techniques
from digitgan.objectives.clusters import Clusters, fit_clusters
from digitgan.objectives.losses import build_objective, log_scalars
from digitgan.training.seed_step import seed_step
from digitgan.training.state import pack_state, restore_device_rng, unpack_state


class GanFamily:
    """The networks, their optimisers, EMA and the noise source; :meth:`step` is one
    discriminator update, followed by a generator update every ``n_critic``-th call.
    ``fast=False`` trains the tutorial's GAN through autograd instead of fast/mlp_step.py (for
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
        self.opt_g, self.opt_d = optimisers(cfg, self.G, self.D)
        self.d_params = list(self.D.parameters())
        self.ema = EMA(self.G, cfg.ema_decay) if cfg.ema_decay > 0 else None
        # GPUs under torchrun: BatchNorm over the global batch. After the EMA copy, which keeps
        # plain BatchNorm: its standing statistics are gathered on rank 0 alone.
        distributed.sync_batchnorm(self.G, self.D)
        self.d_steps = 0
        self.last_g: dict[str, torch.Tensor] = {}  # outputs of the latest G step
        # The tutorial's GAN takes a hand-written backward (fast/mlp_step.py): same updates, faster.
        # The noise source is looked up per call, so a replaced ``family.noise`` is honoured.
        parts = (self.G, self.D, self.objective, self.opt_g, self.opt_d, lambda b: self.noise(b))
        self.fast_step = seed_step(cfg, *parts) if fast else None

    def nets(self) -> list[torch.nn.Module]:
        """G, D and the EMA copy of G."""
        return [self.G, self.D] + ([self.ema.module] if self.ema is not None else [])

    def state_parts(self) -> tuple[dict[str, torch.nn.Module], dict[str, LeanAdam]]:
        """The modules and optimisers of the state, by their tensors' prefix."""
        modules = {"G": self.G, "D": self.D, **({"G_ema": self.ema.module} if self.ema else {})}
        return modules, {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Everything needed to continue bit for bit: weights, EMA, optimisers, step counters
        and the random number generators' states, as tensors and JSON."""
        meta: dict = {"d_steps": self.d_steps, "device": self.device.type}
        if self.ema is not None:
            meta["ema_updates"] = self.ema.updates
        tensors, meta = pack_state(*self.state_parts(), meta)
        return {**tensors, "rng.noise": self.noise_rng.get_state()}, meta

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict, path: Path) -> str | None:
        """Continue from a saved state, moved to this family's device. Returns a note when
        the state was saved on another kind of device: weights and optimiser states carry
        over, but a CUDA noise generator's state means nothing to the CPU's (and back), so
        the noise stream restarts from the seed and the step count."""
        unpack_state(tensors, meta, path, *self.state_parts(), cuda=False)
        if self.ema is not None:
            self.ema.updates = meta["ema_updates"]
        self.d_steps = meta["d_steps"]
        reseed = self.cfg.seed + 2 + self.d_steps
        return restore_device_rng(self.noise_rng, tensors, "rng.noise", meta.get("device", "cpu"), reseed)

    def finite(self) -> bool:
        """Every weight of G, D (and the EMA copy) is finite: nothing else may be saved."""
        return all(bool(torch.isfinite(p).all()) for net in self.nets() for p in net.parameters())

    def scalars(self, out: dict[str, torch.Tensor]) -> dict[str, float]:
        """The log line's numbers for one step's output (the tutorial's four)."""
        return log_scalars(self.objective.score, out)

    def batch_statistics(self) -> list[torch.Tensor]:
        """The buffers each rank gathers from its own slice under torchrun (BatchNorm's running
        statistics of G, D and the EMA copy), which the loop averages over ranks at a save."""
        return [b for m in self.nets() for b in m.buffers() if b.is_floating_point()]

    def snapshot(self) -> dict[str, torch.nn.Module]:
        """The inference weights, by file name: G, D and the EMA copy of G (with its own
        BatchNorm statistics)."""
        return {"G": self.G, "D": self.D, **({"G_ema": self.sampler} if self.ema is not None else {})}

    def fixed_images(self) -> tuple[torch.Tensor, int]:
        """The epoch's grid from fixed noise, 10 digits a row."""
        return fixed_grid(self.sampler, self.cfg), 10

    def eval_images(self, n: int) -> torch.Tensor:
        return eval_digits(self.sampler, self.cfg, n)

    @property
    def sampler(self) -> torch.nn.Module:
        """The generator to draw samples with: the EMA copy when there is one, with its own
        BatchNorm statistics (set once per G update count)."""
        return self.G if self.ema is None else self.ema.sampler(self.cfg)

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

    def set_cluster_shares(self, shares: torch.Tensor) -> None:
        """Self-conditioning: how often G (and its EMA copy) draws each cluster."""
        for G in self.nets()[::2]:  # G and its EMA copy
            G.set_cluster_shares(shares.to(self.device))

    def fit_clusters(self, images_u8: torch.Tensor, digits: torch.Tensor) -> Clusters:
        """Self-conditioning (--clusters): fit the training digits' clusters, whose shares G
        now draws."""
        clusters = fit_clusters(images_u8, digits, self.cfg.clusters, self.cfg.conditional, self.cfg.seed)
        self.set_cluster_shares(clusters.shares)
        return clusters

    def d_step(self, real: torch.Tensor, real_labels: torch.Tensor | None, for_g: bool = False):
        """One D update: real -> 1, G(z) -> 0, plus R1 and the class loss where on. No graph
        through G, unless ``for_g``: then the fakes are drawn as the G step draws them and
        keep their graph for the G step after this one (--shared-fakes). Returns D's loss,
        its raw outputs on real and fake, and what G drew: (z, labels, fakes)."""
        z, fake_labels = self.draw(real.shape[0], paired=for_g)
        judge = techniques.judge(self.D, self.cfg.aux_classifier)
        with self.arith.autocast():
            with torch.set_grad_enabled(for_g):
                fake = self.G(z, fake_labels)
            fake_classes = self.G.classes_of(z, fake_labels)
            d_loss, real_out, fake_out = self.objective.d_loss(
                judge, real, fake.detach(), real_labels, fake_classes
            )
            total = d_loss + techniques.d_terms(self.cfg, self.d_steps, judge, real, real_labels)
        self.opt_d.zero_grad()
        total.backward()
        self.opt_d.step()
        self.d_steps += 1
        return d_loss, real_out, fake_out, (z, fake_labels, fake)

    def draw(self, batch: int, paired: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """G's noise and labels for one batch, in the mode-seeking pairs when ``paired`` and on."""
        z, labels = self.latents(batch)
        if paired and self.cfg.mode_seeking:
            z, labels = techniques.paired(z, labels, clusters=bool(self.cfg.clusters))
        return z, labels

    def g_step(self, batch: int, drawn: tuple | None = None) -> None:
        """One G update on a fresh z, target 1, plus mode seeking and the class loss where
        on; D's weights get no gradient here. ``drawn``: the (z, labels, fakes) of the D step
        just taken, fakes with their graph, to learn from instead (--shared-fakes). Then the
        EMA follows G."""
        z, g_labels = drawn[:2] if drawn is not None else self.draw(batch, paired=True)
        cfg = self.cfg
        set_requires_grad(self.d_params, False)
        judge = techniques.judge(self.D, cfg.aux_classifier)
        with self.arith.autocast():
            fake = drawn[2] if drawn is not None else self.G(z, g_labels)
            classes = self.G.classes_of(z, g_labels)
            keep = techniques.top_k_keep(cfg.top_k, batch, self.d_steps, self.total_steps)
            g_loss = self.objective.g_loss(judge, fake, classes, keep) + techniques.g_terms(
                cfg, judge, z, fake, classes
            )
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
            real, labels if self.cfg.label_classes else None, share
        )
        if g_follows:
            self.g_step(B, drawn if share else None)
        out = {"d_loss": d_loss, "real_logits": real_out, "fake_logits": fake_out, "fake": drawn[2].detach()}
        return {**out, **self.last_g}


def optimisers(cfg: TrainConfig, G: torch.nn.Module, D: torch.nn.Module) -> tuple[LeanAdam, LeanAdam]:
    """G's and D's fused Adam (fast/adam.py), each averaging its gradients over the ranks under
    torchrun; D at its own rate when --lr-d is given (TTUR, Heusel et al. 2017)."""
    reduce, betas = distributed.reduce_gradients, (cfg.beta1, cfg.beta2)
    lr_d = cfg.lr if cfg.lr_d is None else cfg.lr_d
    return LeanAdam(G.parameters(), cfg.lr, betas, reduce), LeanAdam(D.parameters(), lr_d, betas, reduce)
