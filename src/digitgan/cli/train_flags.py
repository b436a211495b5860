"""The flags of ``digitgan train``, derived from TrainConfig's fields (config/fields.py): each
field with a group is a flag of that group, with its help, its choices and its range, and
says the seed preset's value and the presets that set another. Only what is not a setting
of the run is written here: --preset, --resume and the progress bar. Unset flags are None
and take the preset's value (presets.make_config)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from digitgan.cli import argtypes as at
from digitgan.cli.argtypes import HelpFormatter
from digitgan.config.fields import GROUPS, choices_of, flag_name, flagged, kind

DEFAULTS_NOTE = "Unset flags take the preset's value."


def add_train(sub, config_class=None) -> None:
    """``digitgan train`` with a flag for every setting of ``config_class`` (TrainConfig)."""
    from digitgan.config.presets import PRESETS
    from digitgan.config.train_config import TrainConfig

    config_class = config_class or TrainConfig
    t = sub.add_parser(
        "train",
        help="train a GAN in a new run folder",
        description="Train a GAN in a new numbered run folder. " + DEFAULTS_NOTE,
        formatter_class=HelpFormatter,
    )
    groups = {key: t.add_argument_group(title) for key, title in GROUPS.items()}
    groups["data"].add_argument("--preset", default="seed", choices=sorted(PRESETS), help="named recipe")
    for field in flagged(config_class):
        add_setting(groups[field.metadata["group"]], field, PRESETS)
    _run_flags(groups["run"])


def add_setting(group, field: dataclasses.Field, presets: dict) -> None:
    """One setting as a flag: a switch (--x / --no-x) for a bool, else a value checked
    against the field's choices or range as it is parsed."""
    name, value_kind = flag_name(field), kind(field)
    help_text = field.metadata["help"] + _preset_values(field, presets)
    if value_kind == "bool":
        group.add_argument(name, action=argparse.BooleanOptionalAction, help=help_text)
        return
    choices = choices_of(field)
    if choices is not None:
        parse = int if value_kind == "int" else str
        group.add_argument(name, type=parse, choices=choices, help=help_text)
        return
    bounds = field.metadata.get("range")
    if bounds is None:
        group.add_argument(name, help=help_text)
        return
    number = int if value_kind == "int" else float
    rule = bounds.rule(value_kind == "int")
    group.add_argument(name, type=at.number(number, bounds.__contains__, rule), help=help_text)


def _preset_values(field: dataclasses.Field, presets: dict) -> str:
    """`` (seed: 200; dcgan: 18, cgan: 100)``: the default, and the presets that differ."""
    others = [
        f"{name}: {values[field.name]}"
        for name, values in presets.items()
        if values.get(field.name, field.default) != field.default
    ]
    if field.default is None and not others:
        return ""
    shown = [f"seed: {field.default}"] if field.default is not None else []
    return " (" + "; ".join(shown + ([", ".join(others)] if others else [])) + ")"


def _run_flags(g) -> None:
    """What is not a setting of the run: where to continue from, and how to show progress."""
    g.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue this run folder from its saved state (no other training flags)",
    )
    bar = g.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress", dest="progress", action="store_true", default=None, help="force a progress bar"
    )
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="plain lines only")
