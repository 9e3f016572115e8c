"""Helpers shared by the command modules (consoles, JSON output)."""

from typing import TYPE_CHECKING

import click

from tcpq.report.json import dumps

if TYPE_CHECKING:
    from rich.console import Console


def stdout() -> "Console":
    from tcpq.report.console import stdout as make

    return make()


def print_json(data: object) -> None:
    click.echo(dumps(data))
