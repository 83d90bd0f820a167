"""The README documents every setting and every command the code has."""

from __future__ import annotations

import re

import typer.main

from monitor.cli import app
from monitor.config import Settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readmes_table() -> None:
    documented = set(re.findall(r"^\| `(MONITOR_[A-Z_]+)` \|", README, re.M))
    settings = {f"MONITOR_{name.upper()}" for name in Settings.model_fields}
    assert settings - documented == set(), "settings missing from README.md's table"
    assert documented - settings == set(), "README.md documents settings that do not exist"


def test_every_command_is_in_the_readmes_list() -> None:
    click = typer.main.get_command(app)
    commands = set(click.commands)  # type: ignore[attr-defined]
    listed = set(re.findall(r"^monitor (\w+)", README, re.M))
    assert commands - listed == set(), "commands missing from README.md's list"
