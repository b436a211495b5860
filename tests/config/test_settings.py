"""Every training setting is written once, as a TrainConfig field (config/fields.py): its flag,
help, choices and range come from the field, the flag's value reaches the config, and the
flag and the config's check refuse the same values."""

from __future__ import annotations

import dataclasses
import re

import pytest

from digitgan.basics.errors import UserError
from digitgan.cli.argtypes import Parser
from digitgan.cli.main import build_parser, main
from digitgan.cli.train_flags import add_train
from digitgan.config.fields import Range, choices_of, flag_name, flagged, kind, setting
from digitgan.config.presets import make_config
from digitgan.config.train_config import TrainConfig

FIELDS = flagged(TrainConfig)


class Captured(Exception):
    """What the stub of make_config raises once it has seen the flags' values."""


def other_value(field: dataclasses.Field):
    """A value the field may take that is not its default, as typed on the command line."""
    value_kind, choices, bounds = kind(field), choices_of(field), field.metadata.get("range")
    if value_kind == "bool":
        return not field.default, [flag_name(field) if not field.default else "--no-" + flag_name(field)[2:]]
    if choices is not None:
        value = next(c for c in choices if c != field.default)
    elif bounds is not None:
        low = bounds.low if bounds.low is not None else 0
        if value_kind == "int":
            candidates = [int(low) + 1, int(low) + 2]
        else:
            middle = (low + (bounds.high if bounds.high is not None else 2)) / 2
            candidates = [middle, (low + middle) / 2]
        value = next(v for v in candidates if v != field.default)
        assert value in bounds, field.name
    else:
        value = "somewhere"
    return value, [flag_name(field), str(value)]


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
def test_every_setting_is_a_flag_whose_value_reaches_the_config(field, monkeypatch):
    """No hand-kept list between the flags and the config: a flag missing from one would be
    silently ignored."""
    import digitgan.config.presets

    passed = {}

    def capture(preset, **overrides):
        passed.update(overrides)
        raise Captured  # stop before anything trains

    monkeypatch.setattr(digitgan.config.presets, "make_config", capture)
    value, argv = other_value(field)
    with pytest.raises(Captured):
        main(["train", *argv])
    assert passed[field.name] == value
    assert set(passed) == {f.name for f in FIELDS}  # and every other setting is passed on, unset


def test_only_preset_and_family_are_not_flags():
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {f.name for f in FIELDS}
    assert names == {"preset", "family"}  # set by --preset


@pytest.mark.parametrize(
    "field", [f for f in FIELDS if f.metadata.get("range") is not None], ids=lambda f: f.name
)
def test_the_flag_and_the_config_refuse_the_same_values(field, capsys):
    """One range, read by both: the flag's parse and the config's check (which a run's
    config.json goes through) cannot disagree, as --decay-start once did."""
    bounds = field.metadata["range"]
    whole = kind(field) == "int"
    below = None if bounds.low is None else bounds.low - 1
    above = None if bounds.high is None else bounds.high + 1
    for value in (v for v in (below, above) if v is not None):
        value = int(value) if whole else float(value)
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args(["train", flag_name(field), str(value)])
        assert exc.value.code == 2 and bounds.rule(whole) in capsys.readouterr().err
        with pytest.raises(UserError, match=re.escape(f"{flag_name(field)} {bounds.rule(whole)}")):
            dataclasses.replace(make_config("seed"), **{field.name: value}).validate()


def test_a_new_field_is_a_new_flag(capsys):
    """Adding a setting is one field: it appears in train --help with its group, help,
    default and range, and its range is checked."""

    @dataclasses.dataclass
    class WithWarmup(TrainConfig):
        warmup: int = setting(0, "steps of linear learning-rate warm-up", "run", Range(0, 1000))

    parser = Parser(prog="digitgan")
    add_train(parser.add_subparsers(dest="command", parser_class=Parser), WithWarmup)
    assert parser.parse_args(["train", "--warmup", "50"]).warmup == 50
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--warmup", "2000"])
    assert "must be between 0 and 1,000, got 2000" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    help_text = capsys.readouterr().out
    assert "--warmup WARMUP" in help_text and "steps of linear learning-rate warm-up (seed: 0)" in help_text
    group = next(g for g in parser._subparsers._group_actions[0].choices["train"]._action_groups if any(
        a.dest == "warmup" for a in g._group_actions))  # fmt: skip
    assert group.title == "arithmetic, device, run folder and logging"


def test_help_says_the_presets_values():
    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    epochs = "passes over the data (seed: 200; dcgan: 18, cgan: 100, cdcgan: 10, scdcgan: 14, cyclegan: 4, wgan-gp: 20)"
    assert epochs in " ".join(text.split())


def test_every_loss_has_an_objective_and_no_name_falls_back():
    from digitgan.config.train_config import LOSSES
    from digitgan.objectives.losses import OBJECTIVES, build_objective

    assert set(OBJECTIVES) == set(LOSSES)
    assert {type(build_objective(name)).__name__ for name in LOSSES} == {"BCELoss", "WGANGPLoss", "HingeLoss"}
    with pytest.raises(ValueError, match="no objective called 'lsgan'"):
        build_objective("lsgan")  # it used to train hinge
