"""Helpers shared by the command modules (consoles, JSON output)."""

from pathlib import Path
from typing import TYPE_CHECKING

import click

from tcpq.errors import TcpqError
from tcpq.report.json import dumps

if TYPE_CHECKING:
    from rich.console import Console

    from tcpq.types import RunResult


def stdout() -> "Console":
    from tcpq.report.console import stdout as make

    return make()


def print_json(data: object) -> None:
    click.echo(dumps(data))


def emit_run_result(result: "RunResult", as_json: bool, out: Path | None) -> None:
    """Print a RunResult (terminal or JSON) and, with --out, also write its JSON to a file."""
    from tcpq.report.json import run_result_dict
    from tcpq.report.run import render_run

    data = run_result_dict(result)
    if out is not None:
        try:
            out.write_text(dumps(data) + "\n", encoding="utf-8")
        except OSError as exc:
            raise TcpqError(f"cannot write {out}: {exc.strerror}") from None
    if as_json:
        click.echo(dumps(data))
    else:
        stdout().print(render_run(result))
