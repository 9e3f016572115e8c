"""Rich consoles, tables that fit a width without cutting a value, and the deferred progress bar;
imported only by commands that draw."""

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from tcpq.records import frozen
from tcpq.report.theme import THEME

PROGRESS_AFTER_S = 1.0
# Outside a terminal (a pipe, a file) rich falls back to 80 columns, or to the width of a
# terminal on stdin; a fixed wide width gives whole lines instead (tables stay as narrow as their
# content, so a line is only as long as it needs to be).
PIPE_WIDTH = 200
PROSE_MIN_WIDTH = 24  # a wrapped prose column narrower than this reads as a word per line


def stdout() -> Console:
    console = Console(theme=THEME, highlight=False)
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    return console


def stderr() -> Console:
    return Console(theme=THEME, stderr=True, highlight=False)


@contextmanager
def progress(label: str) -> Iterator[Callable[[float], None]]:
    """A progress bar on stderr that appears only once the work has taken over a second."""
    console = stderr()
    started = time.monotonic()
    bar: Progress | None = None
    task = None

    def update(fraction: float) -> None:
        nonlocal bar, task
        if bar is None:
            if not console.is_terminal or time.monotonic() - started < PROGRESS_AFTER_S:
                return
            bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            bar.start()
            task = bar.add_task(label, total=1.0)
        assert task is not None
        bar.update(task, completed=fraction)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()


@contextmanager
def steps(total: int) -> Iterator[Callable[[float, str], None]]:
    """A progress bar over `total` steps on stderr (a terminal only): update(done, label), where
    `done` counts finished steps and may be fractional within the current one."""
    console = stderr()
    bar: Progress | None = None
    task = None
    if console.is_terminal:
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        bar.start()
        task = bar.add_task("", total=total)

    def update(done: float, label: str) -> None:
        if bar is not None and task is not None:
            bar.update(task, completed=min(float(total), done), description=label)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()


# -- tables that fit ------------------------------------------------------------------------

Cell = str | Text


@frozen
class Col:
    """A table column: values keep their full width on one line; `prose` wraps at word boundaries."""

    header: str
    right: bool = False
    prose: bool = False


class ByWidth:
    """A renderable chosen when it is drawn, for the width it is drawn at (terminal, pipe, test)."""

    def __init__(self, build: Callable[[int], RenderableType]) -> None:
        self.build = build

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.build(options.max_width)


def _lines(cell: Cell) -> list[str]:
    return (cell.plain if isinstance(cell, Text) else cell).split("\n")


def _natural(cells: list[Cell]) -> int:
    return max((cell_len(line) for cell in cells for line in _lines(cell)), default=0)


def _longest_word(cells: list[Cell]) -> int:
    words = (word for cell in cells for line in _lines(cell) for word in line.split())
    return max((cell_len(word) for word in words), default=0)


def _widths(columns: Sequence[Col], rows: Sequence[Sequence[Cell]], width: int) -> list[int] | None:
    """Content widths: plain columns their natural width, prose ones what is left (at least
    PROSE_MIN_WIDTH if possible, never less than their longest word); None when that needs more
    than `width`."""
    cells = [[Text(col.header), *(row[i] for row in rows)] for i, col in enumerate(columns)]
    natural = [_natural(column_cells) for column_cells in cells]
    words = [_longest_word(column_cells) for column_cells in cells]
    for floor in (PROSE_MIN_WIDTH, 0):
        least = [
            max(word, min(full, floor)) if col.prose else full
            for col, word, full in zip(columns, words, natural, strict=True)
        ]
        spare = width - (3 * len(columns) - 1) - sum(least)  # each cell is padded by 1 each side
        if spare >= 0:
            break
    else:
        return None
    out = list(least)
    for i, col in enumerate(columns):
        if col.prose:
            grow = min(spare, natural[i] - least[i])
            out[i] += grow
            spare -= grow
    return out


def fit_table(
    title: str | None, columns: Sequence[Col], rows: Sequence[Sequence[Cell]], width: int
) -> RenderableType | None:
    """The table at `width` with no value wrapped or cut, or None if it cannot be drawn so. The
    title is a line of its own, so that a table narrower than its title does not wrap it."""
    widths = _widths(columns, rows, width)
    if widths is None:
        return None
    table = plain_table()
    for col, content_width in zip(columns, widths, strict=True):
        table.add_column(
            col.header, justify="right" if col.right else "left", width=content_width, overflow="fold"
        )
    for row in rows:
        table.add_row(*row)
    return table if title is None else Group(Text(title, style="title"), table)


def plain_table() -> Table:
    """The house table: a rule under the header, no vertical lines (columns split on spaces)."""
    return Table(box=box.SIMPLE_HEAD, show_edge=False)
