"""The tutorial's training step (MLP G and D, BCE, one D update then one G update) with its
backward pass written out, for speed on CPU.

At batch 100 with 256 hidden units every matrix product is small, so on a CPU about a
third of an autograd step is spent around the arithmetic: building and walking the graph,
views and transposes, gradient accumulation, a fresh buffer for every gradient.
:class:`MLPGANStep` does the same arithmetic with none of that: the forward passes keep what
the backward needs, the backward is the chain rule written with the kernels autograd itself
would call (``addmm``/``mm``, ``leaky_relu_backward``, ``threshold_backward``,
``tanh_backward``), gradients go into buffers allocated once, and Adam steps them with the
same fused kernel. G's two forward passes (z for the D update, a fresh z' for the G
update) are one product on 2B rows: G does not change during the D update, and z, z' are
drawn in the tutorial's order from the same generator.

Same function, same updates: a test runs this and the autograd step side by side from the
same weights and noise and checks losses, outputs, weights and Adam's moments agree to
float rounding (about 1e-6), and the tutorial-equivalence test runs through it.
training/seed_step.py decides which runs take it: the tutorial's exact architecture and
objective; anything else (conditional, spectral norm, other losses, n_critic > 1) trains
through autograd. This module sees only the two ``nn.Sequential`` stacks and the optimisers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from digitgan.fast.adam import LeanAdam

aten = torch.ops.aten


def _linears(seq: nn.Sequential) -> list[tuple[torch.Tensor, torch.Tensor]]:
    # Detached aliases: the same storage (Adam's in-place updates and load_state_dict's
    # copies show through), without autograd's bookkeeping on every use.
    return [(m.weight.detach(), m.bias.detach()) for m in seq if isinstance(m, nn.Linear)]


class MLPGANStep:
    """One D update on a real batch, then one G update; see the module's docstring."""

    def __init__(
        self,
        g_net: nn.Sequential,
        d_net: nn.Sequential,
        opt_g: LeanAdam,
        opt_d: LeanAdam,
        noise: Callable[[int], torch.Tensor],
    ) -> None:
        self.opt_g, self.opt_d, self.noise = opt_g, opt_d, noise
        self.g_layers, self.d_layers = _linears(g_net), _linears(d_net)
        self.slope = d_net[1].negative_slope
        # Gradient buffers in the optimisers' parameter order (weight, bias per layer).
        self.g_grads = [torch.empty_like(p) for wb in self.g_layers for p in wb]
        self.d_grads = [torch.empty_like(p) for wb in self.d_layers for p in wb]
        assert [g.shape for g in self.g_grads] == [p.shape for p in opt_g.params]
        assert [g.shape for g in self.d_grads] == [p.shape for p in opt_d.params]

    def _d_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        (V1, c1), (V2, c2), (V3, c3) = self.d_layers
        a1 = torch.addmm(c1, x, V1.t())
        h1 = aten.leaky_relu(a1, self.slope)
        a2 = torch.addmm(c2, h1, V2.t())
        h2 = aten.leaky_relu(a2, self.slope)
        return a1, h1, a2, h2, torch.addmm(c3, h2, V3.t())

    def _d_backward_to_input(self, g: torch.Tensor, a1, a2) -> torch.Tensor:
        """d loss / d x from d loss / d logits, without D's weight gradients."""
        (V1, _), (V2, _), (V3, _) = self.d_layers
        g = aten.leaky_relu_backward(torch.mm(g, V3), a2, self.slope, False)
        g = aten.leaky_relu_backward(torch.mm(g, V2), a1, self.slope, False)
        return torch.mm(g, V1)

    @staticmethod
    def _weight_grads(g: torch.Tensor, inputs: torch.Tensor, weight_grad, bias_grad) -> None:
        """A linear layer's gradients from d loss / d output ``g`` and the layer's ``inputs``."""
        torch.mm(g.t(), inputs, out=weight_grad)
        torch.sum(g, 0, out=bias_grad)

    @torch.no_grad()
    def __call__(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        B = real.shape[0]
        (W1, b1), (W2, b2), (W3, b3) = self.g_layers
        (_, _), (V2, _), (V3, _) = self.d_layers

        # G on z (for D's update) and z' (for G's) in one product.
        z = torch.cat([self.noise(B), self.noise(B)])
        u1 = torch.addmm(b1, z, W1.t()).relu_()  # G's hidden layers
        u2 = torch.addmm(b2, u1, W2.t()).relu_()
        fakes = torch.addmm(b3, u2, W3.t()).tanh_()

        # Discriminator: real -> 1, G(z) -> 0, one pass over both.
        x = torch.cat([real.reshape(B, -1), fakes[:B]])
        a1, h1, a2, h2, logits = self._d_forward(x)
        real_out, fake_out = logits[:B].view(B), logits[B:].view(B)
        d_loss = (
            torch.nn.functional.softplus(-real_out).mean() + torch.nn.functional.softplus(fake_out).mean()
        )
        # d/dl of mean softplus(-l) is (sigmoid(l) - 1) / B; of mean softplus(l), sigmoid(l) / B.
        g = torch.sigmoid(logits)
        g[:B] -= 1
        g.div_(B)
        dV1, dc1, dV2, dc2, dV3, dc3 = self.d_grads
        self._weight_grads(g, h2, dV3, dc3)
        g = aten.leaky_relu_backward(torch.mm(g, V3), a2, self.slope, False)
        self._weight_grads(g, h1, dV2, dc2)
        g = aten.leaky_relu_backward(torch.mm(g, V2), a1, self.slope, False)
        self._weight_grads(g, x, dV1, dc1)
        self.opt_d.step(self.d_grads)

        # Generator: G(z') -> 1 through the updated D; D's weights get no gradient.
        fake, u1, u2, z = fakes[B:], u1[B:], u2[B:], z[B:]
        a1, _, a2, _, out = self._d_forward(fake)
        g_loss = torch.nn.functional.softplus(-out).mean()
        g = self._d_backward_to_input(torch.sigmoid(out).sub_(1).div_(B), a1, a2)
        g = aten.tanh_backward(g, fake)
        dW1, db1, dW2, db2, dW3, db3 = self.g_grads
        self._weight_grads(g, u2, dW3, db3)
        g = aten.threshold_backward(torch.mm(g, W3), u2, 0)
        self._weight_grads(g, u1, dW2, db2)
        g = aten.threshold_backward(torch.mm(g, W2), u1, 0)
        self._weight_grads(g, z, dW1, db1)
        self.opt_g.step(self.g_grads)

        return {
            "d_loss": d_loss,
            "real_logits": real_out,
            "fake_logits": fake_out,
            "fake": fake.view(real.shape),
            "g_loss": g_loss,
        }
