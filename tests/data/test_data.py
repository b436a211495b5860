"""Loading MNIST from the real files, and the one-line errors for damaged or missing ones."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
import torch

from digitgan.basics.errors import UserError
from digitgan.basics.images import to_model_range
from digitgan.cli.main import main
from digitgan.data import digits as data_mod
from digitgan.data.digits import load_dataset

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_mnist_train_and_test(data_root):
    train = load_dataset("mnist", data_root, "train")
    test = load_dataset("mnist", data_root, "test")
    assert train.images.shape == (60_000, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (10_000, 28, 28)
    assert torch.bincount(train.labels, minlength=10).tolist() == TRAIN_COUNTS
    assert torch.bincount(test.labels, minlength=10).tolist() == TEST_COUNTS
    assert (train.images.min().item(), train.images.max().item()) == (0, 255)
    # MNIST digits are light strokes on a black (0) background: the corners are empty.
    assert train.images[:, 0, 0].max().item() == 0
    assert train.md5 != test.md5


def test_normalisation_is_tutorial_totensor_normalize(data_root):
    from torchvision import transforms

    images = load_dataset("mnist", data_root).images[:64]
    tutorial = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean=0.5, std=0.5)])
    expected = torch.stack([tutorial(img.numpy()) for img in images])  # (64, 1, 28, 28)
    ours = to_model_range(images).view(64, 1, 28, 28)
    assert torch.equal(ours, expected)
    assert ours.min().item() == -1.0 and ours.max().item() == 1.0


def test_gzipped_files_are_read(tmp_path, data_root):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        with (
            open(data_root / "MNIST" / "raw" / name, "rb") as src,
            gzip.open(raw / f"{name}.gz", "wb", 1) as dst,
        ):
            shutil.copyfileobj(src, dst)
    assert len(load_dataset("mnist", tmp_path, "test")) == 10_000


def _damage(root: Path, name: str, transform) -> Path:
    path = root / "MNIST" / "raw" / name
    content = path.read_bytes()
    path.unlink()  # drop the link to the original, write a damaged private copy
    path.write_bytes(transform(content))
    return path


def _flip_pixel(b: bytes) -> bytes:
    return b[:1000] + bytes([b[1000] ^ 0xFF]) + b[1001:]


DAMAGES = {
    "wrong magic": ("train-images-idx3-ubyte", lambda b: b"\x00\x00\x08\x01" + b[4:], "magic number"),
    "truncated images": ("train-images-idx3-ubyte", lambda b: b[: len(b) // 2], "truncated"),
    "header only": ("train-labels-idx1-ubyte", lambda b: b[:5], "truncated"),
    "flipped pixel": ("train-images-idx3-ubyte", _flip_pixel, "md5"),
    "label count": (
        "train-labels-idx1-ubyte",
        lambda b: b[:4] + (59_999).to_bytes(4, "big") + b[8:-1],
        "59999 labels",
    ),
    "label value": ("train-labels-idx1-ubyte", lambda b: b[:8] + b"\x0b" + b[9:], "label 11"),
}


@pytest.mark.parametrize("case", DAMAGES)
def test_damaged_file_is_one_line_exit_2(case, mnist_copy, tmp_path, capsys):
    name, transform, words = DAMAGES[case]
    path = _damage(mnist_copy, name, transform)
    outdir = tmp_path / "runs"
    code = main(
        ["train", "--data-root", str(mnist_copy), "--epochs", "1", "--limit", "200", "--outdir", str(outdir)]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("digitgan: error:")
    assert str(path) in err and words in err
    assert not outdir.exists()  # nothing was written


def test_label_count_mismatch_is_reported(mnist_copy):
    # Pair the train images with the test labels: both files are valid on their own.
    raw = mnist_copy / "MNIST" / "raw"
    (raw / "train-labels-idx1-ubyte").unlink()
    (raw / "train-labels-idx1-ubyte").symlink_to((raw / "t10k-labels-idx1-ubyte").resolve())
    with pytest.raises(UserError, match="60000 images but .* 10000 labels"):
        load_dataset("mnist", mnist_copy)


def test_missing_files_offline_names_all_four(tmp_path, capsys):
    code = main(["train", "--data-root", str(tmp_path / "nowhere"), "--outdir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        assert name in err
    assert str(tmp_path / "nowhere" / "MNIST" / "raw") in err
    assert not (tmp_path / "runs").exists()


def test_failed_download_falls_back_to_the_message(tmp_path, monkeypatch, capsys):
    calls = []

    def offline(spec, root):
        calls.append(root)
        raise OSError("network is unreachable")

    monkeypatch.setenv("DIGITGAN_NO_DOWNLOAD", "0")
    monkeypatch.setattr(data_mod, "_download", offline)
    with pytest.raises(UserError, match=r"\(download failed: OSError: network is unreachable\): put "):
        load_dataset("mnist", tmp_path)
    assert calls == [tmp_path]
    assert capsys.readouterr().out == ""  # the one error line says it all


def test_a_failed_download_leaves_no_folder(tmp_path, monkeypatch):
    """torchvision makes ROOT/MNIST/raw before it fails; digitgan downloads into a temporary
    folder, so that the data root it was given stays as it was."""
    import torchvision.datasets

    made = []

    class Offline:
        def __init__(self, root, train, download):
            made.append(Path(root) / "MNIST" / "raw")
            made[-1].mkdir(parents=True)
            raise RuntimeError(
                "Error downloading train-images-idx3-ubyte.gz:\nTried https://example/, got:\n"
                "<urlopen error [Errno -2] Name or service not known>\n"
            )

    monkeypatch.setenv("DIGITGAN_NO_DOWNLOAD", "0")
    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    root = tmp_path / "data"
    with pytest.raises(UserError, match=r"\(download failed: \[Errno -2\] Name or service not known\)"):
        load_dataset("mnist", root)
    assert made and not made[0].exists()  # the temporary folder is gone too
    assert not root.exists()


def test_data_root_from_environment(monkeypatch, data_root):
    monkeypatch.setenv("DIGITGAN_DATA", str(data_root))
    assert len(load_dataset("mnist", None, "test")) == 10_000
    monkeypatch.delenv("DIGITGAN_DATA")
    assert data_mod.resolve_data_root(None) == Path("data")


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)",
)
def test_fashion_mnist_from_debian(tmp_path):
    train = load_dataset("fashion-mnist", tmp_path, "train")
    assert train.images.shape == (60_000, 28, 28)
    assert torch.bincount(train.labels, minlength=10).tolist() == [6000] * 10
