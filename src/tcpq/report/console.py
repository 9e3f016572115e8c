"""Rich consoles and the deferred progress bar; imported only by commands that draw."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tcpq.report.theme import THEME

PROGRESS_AFTER_S = 1.0


def stdout() -> Console:
    return Console(theme=THEME, highlight=False)


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
