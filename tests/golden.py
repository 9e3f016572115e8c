"""Golden files of terminal output, shared by the golden tests: render at a width with colour
off, and compare with (or, with TCPQ_UPDATE_GOLDEN=1, rewrite) the file."""

import io
import os
from pathlib import Path

from rich.console import Console, RenderableType

from tcpq.report.theme import THEME


def render(renderable: RenderableType, width: int) -> str:
    console = Console(
        width=width,
        color_system=None,
        force_terminal=False,
        record=True,
        theme=THEME,
        highlight=False,
        file=io.StringIO(),
    )
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def check_golden(path: Path, text: str) -> None:
    if os.environ.get("TCPQ_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} differs (TCPQ_UPDATE_GOLDEN=1 to rewrite)"
