"""The examples in the Python API's docstrings run, against the shipped models (those that
need a run folder, data or minutes say ``doctest: +SKIP``)."""

from __future__ import annotations

import doctest
import importlib

import pytest

import digitgan

# (api/actions.py's train and evaluate need data and minutes: their examples are skipped)
MODULES = [
    "digitgan",
    "digitgan.api.loading",
    "digitgan.api.generator",
    "digitgan.api.translator",
    "digitgan.basics.errors",
]


@pytest.mark.parametrize("name", MODULES)
def test_the_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={"digitgan": digitgan}, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 2


def test_every_public_name_has_an_example():
    for name in digitgan.__all__:
        if name != "__version__":
            assert ">>>" in (getattr(digitgan, name).__doc__ or ""), name
