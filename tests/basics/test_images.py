"""basics/images: the grids people look at are laid out as torchvision's save_image lays
them out, without importing torchvision (2.6 s of every command's start)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torchvision.utils import make_grid

from digitgan.basics.images import tile


@pytest.mark.parametrize(("count", "nrow"), [(1, 8), (2, 8), (7, 3), (10, 10), (100, 8), (64, 8), (13, 5)])
def test_tile_is_make_grid_of_one_channel(count, nrow):
    images = torch.rand(count, 1, 28, 28)
    expected = make_grid(images, nrow=nrow)[0]  # make_grid repeats the one channel three times
    assert torch.equal(tile(images[:, 0], nrow), expected)


def test_drawing_commands_do_not_import_torchvision():
    code = "import sys, digitgan.generation.sampling, digitgan.training.loop; print('torchvision' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
