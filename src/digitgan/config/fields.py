"""How a training setting is declared: once, as a field of TrainConfig with its help, its
flag group, its choices and its range. ``digitgan train``'s flags (cli/train_flags.py), the
checks of a config (TrainConfig.validate) and the keys a run passes on (cli/commands.py) are
all read from these declarations, so that a new setting is one field:

    warmup: int = setting(0, "steps of linear learning-rate warm-up", "run", Range(0))
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

# The flag groups of ``digitgan train --help``, in the order it shows them.
GROUPS = {
    "data": "data, schedule and optimiser",
    "model": "model and objective",
    "techniques": "techniques (off unless a preset sets them)",
    "run": "arithmetic, device, run folder and logging",
    "cyclegan": "cyclegan (typed <-> handwritten)",
}


@dataclass(frozen=True)
class Range:
    """The finite numbers from ``low`` to ``high`` (either may be None: unbounded), each end
    included unless ``open_low`` / ``open_high``."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def __contains__(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = self.low is None or (value > self.low if self.open_low else value >= self.low)
        below = self.high is None or (value < self.high if self.open_high else value <= self.high)
        return above and below

    def rule(self, whole: bool) -> str:
        """``must be >= 1``, ``must be between 0 and 2,147,483,647``, ``must lie in [0, 1)``."""
        number = "" if whole else "a finite number "
        if self.low is not None and self.high is not None:
            if whole:
                return f"must be between {self.low:,} and {self.high:,}"
            ends = "(["[not self.open_low] + f"{self.low:g}, {self.high:g}" + ")]"[not self.open_high]
            return f"must lie in {ends}"
        if self.low is not None:
            return f"must be {number}{'>' if self.open_low else '>='} {self.low:g}"
        if self.high is not None:
            return f"must be {number}{'<' if self.open_high else '<='} {self.high:g}"
        return f"must be {number or 'a whole number'}".strip()


def setting(
    default: Any,
    help: str,
    group: str | None,
    range: Range | None = None,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """A TrainConfig field: its default, the help of its flag, the flag's group (None: no
    flag, set by a preset only) and the values it may take."""
    assert group is None or group in GROUPS, group
    return dataclasses.field(
        default=default, metadata={"help": help, "group": group, "range": range, "choices": choices}
    )


def flag_name(field: dataclasses.Field) -> str:
    return "--" + field.name.replace("_", "-")


def kind(field: dataclasses.Field) -> str:
    """The field's value type without None: int, float, bool or str."""
    return next(part for part in str(field.type).split(" | ") if part != "None")


def choices_of(field: dataclasses.Field) -> tuple[Any, ...] | None:
    return field.metadata.get("choices")


def flagged(config_class) -> list[dataclasses.Field]:
    """The fields that are flags of ``digitgan train``."""
    return [f for f in dataclasses.fields(config_class) if f.metadata.get("group")]


def check(field: dataclasses.Field, value: Any) -> str | None:
    """Why ``value`` does not fit the field's declaration (its choices, its range), or None."""
    if value is None:
        return None
    choices = choices_of(field)
    if choices is not None and value not in choices:
        return f"{flag_name(field)} must be one of {', '.join(map(str, choices))}, got {value!r}"
    bounds = field.metadata.get("range")
    if bounds is not None and value not in bounds:
        return f"{flag_name(field)} {bounds.rule(kind(field) == 'int')}, got {value}"
    return None
