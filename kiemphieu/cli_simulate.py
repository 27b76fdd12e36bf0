"""Commands: simulate (synthetic voters and scanners)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
