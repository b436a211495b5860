"""``digitgan ARGS`` under torchrun, where rank RANK alone meets a fault right after its
AT-th discriminator update: FAULT "SIGTERM" (a signal to that process) or "nan" (a
non-finite loss). Every rank must stop at the same step.

    torchrun --standalone --nproc-per-node 2 tests/ddp_fault.py AT RANK FAULT train ...
"""

import os
import signal
import sys

import torch

from digitgan.cli import main
from digitgan.trainer import Trainer

at, target, fault = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
original = Trainer.step


def step(self, *args, **kwargs):
    out = original(self, *args, **kwargs)
    if self.d_steps == at and int(os.environ["RANK"]) == target:
        if fault == "nan":
            out = {**out, "d_loss": torch.tensor(float("nan"))}
        else:
            os.kill(os.getpid(), signal.Signals[fault])
    return out


Trainer.step = step
sys.exit(main(sys.argv[4:]))
