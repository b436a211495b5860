"""AC-GAN (--aux-classifier): D sees the image alone, a second head names its digit (or
cluster), and the class loss joins D's loss on real digits and G's on its fakes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from digitgan.basics.errors import UserError
from digitgan.basics.images import to_model_range
from digitgan.config.presets import PRESETS, make_config
from digitgan.data.digits import load_dataset
from digitgan.objectives.techniques import ClassRecorder, class_term
from digitgan.training.gan_family import GanFamily


def small(preset: str, **overrides):
    return make_config(preset, hidden_dim=8, precision="fp32", channels_last=False, **overrides)


@pytest.mark.parametrize("preset,classes", [("cdcgan", 10), ("scdcgan", PRESETS["scdcgan"]["clusters"])])
def test_d_sees_the_image_alone_and_names_its_class(preset, classes):
    trainer = GanFamily(small(preset, aux_classifier=1.0), torch.device("cpu"))
    D = trainer.D.eval()
    assert D.body[0].in_channels == 1  # no label planes
    x = torch.randn(6, 1, 28, 28)
    logits, class_logits = D.judge(x)
    assert logits.shape == (6,) and class_logits.shape == (6, classes)
    assert torch.equal(D(x, torch.full((6,), 3)), D(x, torch.full((6,), 7)))  # labels unused
    assert torch.equal(D(x), logits)


def test_the_class_loss_is_the_first_calls_rows_weighted():
    """D's step adds weight * CE(class logits of the real digits, labels): the recorder keeps
    the logits of the call the objective makes, and no second pass is needed."""
    trainer = GanFamily(small("cdcgan", aux_classifier=0.5), torch.device("cpu"))
    real, fake = torch.randn(8, 1, 28, 28), torch.randn(8, 1, 28, 28)
    labels = torch.arange(8) % 10
    judge = ClassRecorder(trainer.D)
    trainer.objective.d_loss(judge, real, fake, labels, labels)
    assert len(judge.class_logits) == 2  # D has batch statistics: real, then fake
    expected = 0.5 * F.cross_entropy(trainer.D.judge(real)[1], labels)
    assert torch.allclose(class_term(0.5, judge, labels, 8), expected)
    assert class_term(0.5, trainer.D, labels, 8) == 0.0  # a plain D: no class term


def test_the_class_head_learns_the_digits(data_root):
    """After 60 steps on real MNIST, D's class head names held-out digits far above chance
    (0.1): the class loss reaches D's weights through the step."""
    digits = load_dataset("mnist", data_root, "train", download=False)
    images, labels = to_model_range(digits.images[:3840]).unsqueeze(1), digits.labels[:3840]
    trainer = GanFamily(small("cdcgan", aux_classifier=1.0), torch.device("cpu"))
    for i in range(60):
        rows = slice(64 * i, 64 * (i + 1))
        trainer.step(images[rows], labels[rows])
    test = load_dataset("mnist", data_root, "test", download=False)
    x = to_model_range(test.images[:1000]).unsqueeze(1)
    with torch.no_grad():
        named = trainer.D.eval().judge(x)[1].argmax(1)
    assert (named == test.labels[:1000]).float().mean() > 0.5


@pytest.mark.parametrize(
    "preset,overrides", [("dcgan", {}), ("cgan", {}), ("cdcgan", {"aux_classifier": -1.0})]
)
def test_needs_a_conv_d_with_classes_and_a_weight_of_at_least_0(preset, overrides):
    with pytest.raises(UserError, match="--aux-classifier"):
        make_config(preset, **{"aux_classifier": 1.0, **overrides})
