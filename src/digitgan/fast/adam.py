"""Adam with less bookkeeping per step, for small networks where the bookkeeping shows.

A GAN step calls two optimisers on networks of a few hundred thousand weights. There,
``torch.optim.Adam.step`` spends about as long in Python (hooks, grouping tensors by device
and dtype, building lists) as its fused kernel spends updating the weights, and
``zero_grad`` about 70 us. :class:`LeanAdam` keeps a real ``torch.optim.Adam`` (fused) for
its state, hyperparameters and ``state_dict``, and steps it through PyTorch's own
functional ``torch.optim.adam.adam`` with the tensor lists built once. Same kernel, same
state, same numbers (a test checks bit equality with ``torch.optim.Adam``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim.adam import adam


class LeanAdam:
    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float,
        betas: tuple[float, float],
        reduce: Callable[[list[torch.Tensor]], None] | None = None,
    ) -> None:
        """``reduce`` is called on the gradients before each update: under torchrun the
        trainer passes distributed.reduce_gradients, which averages them over the ranks."""
        self.opt = torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
        self.reduce = reduce
        self.params = [p for group in self.opt.param_groups for p in group["params"]]
        self._state_lists: tuple[list, list, list] | None = None

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self, grads: list[torch.Tensor] | None = None) -> None:
        """One update from the parameters' ``.grad``, or from ``grads`` (one per parameter,
        in order) when given, after the ``reduce`` hook (every family's every update passes
        here, so under torchrun every gradient is averaged over the ranks)."""
        if grads is None:
            grads = [p.grad for p in self.params]
        if self.reduce is not None:
            self.reduce(grads)
        self._update(grads)

    def _update(self, grads: list[torch.Tensor | None]) -> None:
        if self._state_lists is None and any(
            p.grad is not g for p, g in zip(self.params, grads, strict=True)
        ):
            for p, g in zip(self.params, grads, strict=True):
                p.grad = g
            self._update([p.grad for p in self.params])  # creates the state through torch.optim.Adam
            self.zero_grad()
            return
        if self._state_lists is None or any(g is None for g in grads):
            self.opt.step()  # creates the state on the first call; handles missing grads
            if all(p in self.opt.state for p in self.params):
                states = [self.opt.state[p] for p in self.params]
                self._state_lists = (
                    [s["exp_avg"] for s in states],
                    [s["exp_avg_sq"] for s in states],
                    [s["step"] for s in states],
                )
            return
        group = self.opt.param_groups[0]
        exp_avgs, exp_avg_sqs, steps = self._state_lists
        adam(
            self.params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            [],
            steps,
            fused=True,
            amsgrad=group["amsgrad"],
            beta1=group["betas"][0],
            beta2=group["betas"][1],
            lr=group["lr"],
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=group["maximize"],
        )

    def state_dict(self) -> dict[str, Any]:
        return self.opt.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.opt.load_state_dict(state)
        # Saved moments come back contiguous; give each its parameter's layout (channels_last
        # weights), as the moments created in training have: the fused update then reads
        # both the same way, and a resumed run stays bit-identical.
        for p in self.params:
            for key, value in self.opt.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    self.opt.state[p][key] = torch.empty_like(p).copy_(value)
        self._state_lists = None  # the state tensors were replaced
