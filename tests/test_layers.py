"""Every part of `ivr` has a place in the import layers (pyproject.toml, checked by import-linter).

import-linter only checks the modules a contract names: a new top-level module left out of the
list may import anything, and nobody notices until the layering has quietly gone."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _named_in_layers() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = config["tool"]["importlinter"]["contracts"][0]
    names = (name.strip() for layer in contract["layers"] for name in re.split(r"[|:]", layer))
    return {name for name in names if name}


def _top_level_parts() -> set[str]:
    package = ROOT / "ivr"
    entry_points = {"__init__", "__main__"}
    modules = {f"ivr.{path.stem}" for path in package.glob("*.py") if path.stem not in entry_points}
    packages = {f"ivr.{path.parent.name}" for path in package.glob("*/__init__.py")}
    return modules | packages


def test_every_top_level_module_and_package_of_ivr_has_a_layer() -> None:
    missing = sorted(_top_level_parts() - _named_in_layers())
    assert not missing, "give these a layer in [tool.importlinter] of pyproject.toml: " + ", ".join(missing)


def test_the_layers_name_nothing_that_is_gone() -> None:
    gone = sorted(_named_in_layers() - _top_level_parts())
    assert not gone, "these layers name modules that no longer exist: " + ", ".join(gone)
