"""``digitgan ARGS`` under torchrun, where rank RANK alone meets a fault right after its
AT-th discriminator update: FAULT "SIGTERM" (a signal to that process), "nan" (a non-finite
loss) or "none". Every rank must stop at the same step. With $TYPED_SIZES (say 2000,500)
the typed-digit data set is that small, as in tests/test_cyclegan.py.

    torchrun --standalone --nproc-per-node 2 tests/training/ddp_fault.py AT RANK FAULT train ...
"""

import os
import signal
import sys

import torch

from digitgan.cli.main import main
from digitgan.cyclegan.cycle_family import CycleFamily
from digitgan.data import typed
from digitgan.training.gan_family import GanFamily

at, target, fault = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if "TYPED_SIZES" in os.environ:
    typed.TRAIN_IMAGES, typed.TEST_IMAGES = map(int, os.environ["TYPED_SIZES"].split(","))


def with_fault(original):
    def step(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        steps = getattr(self, "d_steps", getattr(self, "steps", 0))
        if steps == at and int(os.environ["RANK"]) == target and fault != "none":
            if fault == "nan":
                out = {**out, "d_loss": torch.tensor(float("nan"))}
            else:
                os.kill(os.getpid(), signal.Signals[fault])
        return out

    return step


GanFamily.step = with_fault(GanFamily.step)
CycleFamily.step = with_fault(CycleFamily.step)
sys.exit(main(sys.argv[4:]))
