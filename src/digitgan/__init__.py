"""digitgan: generative adversarial networks that draw handwritten digits.

    >>> import digitgan
    >>> g = digitgan.load("cdcgan")              # a model that ships with digitgan
    >>> g.sample(64, digit=7).shape              # 64 sevens, uint8, as MNIST's files hold them
    (64, 28, 28)
    >>> g.grid(digit=7).save("sevens.png")       # doctest: +SKIP
    >>> digitgan.evaluate(g, n=2000)["metrics"]["fid"]  # doctest: +SKIP

The names below load when first used, so that ``import digitgan`` (and ``digitgan --help``)
stays light; the ``digitgan`` command is a thin layer over them.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Each public name and the module that defines it.
_HOMES = {
    "load": "digitgan.api.loading",
    "train": "digitgan.api.actions",
    "evaluate": "digitgan.api.actions",
    "Generator": "digitgan.api.generator",
    "Translator": "digitgan.api.translator",
    "UnreadableInput": "digitgan.api.translator",
    "UserError": "digitgan.basics.errors",
}
__all__ = [*_HOMES, "__version__"]


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'digitgan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
