"""``digitgan ARGS`` under torchrun, where rank RANK alone receives SIGNAL right after its
AT-th discriminator update: the stop must be agreed by every rank.

    torchrun --standalone --nproc-per-node 2 tests/ddp_signal.py AT RANK SIGNAL train ...
"""

import os
import sys

from digitgan.cli import main
from digitgan.trainer import Trainer

at, target, signum = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
original = Trainer.step


def step(self, *args, **kwargs):
    out = original(self, *args, **kwargs)
    if self.d_steps == at and int(os.environ["RANK"]) == target:
        os.kill(os.getpid(), signum)
    return out


Trainer.step = step
sys.exit(main(sys.argv[4:]))
