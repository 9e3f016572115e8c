"""The app under Textual's pilot at 80×24, fed hand-built Scans by a fake source: the keys
change what the DataTable shows, and a paused view keeps its frame."""

import asyncio
import functools
import queue
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from tcpq.app.host_session import Scan
from tcpq.top.app import TopApp

from .builders import listener, one

SIZE = (80, 24)
WAIT_S = 5.0


class FakeSource:
    """Scans the test pushes; the app's reader thread blocks on them like on a real interval."""

    def __init__(self) -> None:
        self.pending: queue.Queue[Scan | None] = queue.Queue()

    def push(self, scan: Scan) -> None:
        self.pending.put(scan)

    def close(self) -> None:
        self.pending.put(None)

    def scans(self) -> Iterator[Scan]:
        while (scan := self.pending.get(timeout=60)) is not None:
            yield scan


FIRST = one(
    [
        listener(8080, drops_per_s=5.0, syn_recv=1, comm="nginx"),
        listener(9090, drops_per_s=50.0, syn_recv=0, comm="java"),
        listener(7070, drops_per_s=0.5, syn_recv=9, comm="agent"),
    ]
)
SECOND = one([listener(6060, drops_per_s=500.0, comm="burst"), listener(8080, drops_per_s=1.0)])


def endpoints(app: TopApp) -> list[str]:
    table = app.query_one("#listeners", DataTable)
    return [str(table.get_row_at(index)[5]) for index in range(table.row_count)]


def title(app: TopApp) -> str:
    return str(app.query_one("#title", Static).render())


async def received(pilot: Pilot[None], app: TopApp, count: int) -> None:
    """Wait until the app has taken `count` scans from its reader thread."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while app.scans_received < count:
        assert loop.time() < deadline, f"the app received {app.scans_received} of {count} scans"
        await pilot.pause(0.02)
    await pilot.pause()


def sync(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test in its own event loop (no pytest plugin needed)."""

    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


def make() -> tuple[TopApp, FakeSource]:
    source = FakeSource()
    return TopApp(source, 1.0, handle_signals=False), source


@sync
async def test_before_the_first_scan_it_says_it_is_reading() -> None:
    app, source = make()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert endpoints(app) == []
        assert "reading" in str(app.query_one("#more", Static).render())
        source.close()


@sync
async def test_sort_keys_and_reverse_reorder_the_rows() -> None:
    app, source = make()
    async with app.run_test(size=SIZE) as pilot:
        source.push(FIRST)
        await received(pilot, app, 1)
        assert endpoints(app) == ["127.0.0.1:9090", "127.0.0.1:8080", "127.0.0.1:7070"]
        await pilot.press("r")
        assert endpoints(app) == ["127.0.0.1:7070", "127.0.0.1:8080", "127.0.0.1:9090"]
        await pilot.press("5")  # SYN-RECV, most first
        assert endpoints(app) == ["127.0.0.1:7070", "127.0.0.1:8080", "127.0.0.1:9090"]
        assert "sort SYN-RECV ↓" in title(app)
        await pilot.press("s", "s")  # endpoint, then process: agent, java, nginx
        assert "sort process ↑" in title(app)
        assert endpoints(app) == ["127.0.0.1:7070", "127.0.0.1:9090", "127.0.0.1:8080"]
        source.close()


@sync
async def test_typing_a_filter_narrows_the_rows_and_escape_clears_it() -> None:
    app, source = make()
    async with app.run_test(size=SIZE) as pilot:
        source.push(FIRST)
        await received(pilot, app, 1)
        await pilot.press("slash", *"808")  # digits go to the filter, not to the sort keys
        assert endpoints(app) == ["127.0.0.1:8080"]
        await pilot.press("enter")
        assert "filter '808'" in title(app)
        await pilot.press("slash", "backspace", "backspace", "backspace", *"JAVA", "enter")
        assert endpoints(app) == ["127.0.0.1:9090"]
        await pilot.press("q")  # Enter closed the box: q is a key again, not a letter of the filter
        assert not app.is_running
    app, source = make()
    async with app.run_test(size=SIZE) as pilot:
        source.push(FIRST)
        await received(pilot, app, 1)
        await pilot.press("slash", *"nginx")
        assert endpoints(app) == ["127.0.0.1:8080"]
        await pilot.press("escape")
        assert len(endpoints(app)) == 3
        source.close()


@sync
async def test_paused_keeps_the_frame_until_unpaused() -> None:
    app, source = make()
    async with app.run_test(size=SIZE) as pilot:
        source.push(FIRST)
        await received(pilot, app, 1)
        await pilot.press("p")
        assert "PAUSED" in title(app)
        source.push(SECOND)
        await received(pilot, app, 2)
        assert endpoints(app) == ["127.0.0.1:9090", "127.0.0.1:8080", "127.0.0.1:7070"]
        await pilot.press("p")
        assert "PAUSED" not in title(app)
        assert endpoints(app) == ["127.0.0.1:6060", "127.0.0.1:8080"]
        source.close()


@sync
async def test_a_refresh_updates_cells_in_place() -> None:
    app, source = make()
    async with app.run_test(size=SIZE) as pilot:
        source.push(FIRST)
        await received(pilot, app, 1)
        table = app.query_one("#listeners", DataTable)
        keys = [row.key for row in table.ordered_rows]
        source.push(one([listener(9090, drops_per_s=60.0), listener(8080), listener(7070)]))
        await received(pilot, app, 2)
        assert [row.key for row in table.ordered_rows] == keys  # same rows, new values
        assert str(table.get_row_at(0)[0]) == "60.0"
        source.push(SECOND)
        await received(pilot, app, 3)
        assert table.row_count == 2
        source.close()


@sync
async def test_q_quits_and_ctrl_c_is_an_interrupt() -> None:
    app, source = make()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
    assert not app.outcome.interrupted
    app, source = make()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+c")
    assert app.outcome.interrupted
    source.close()


@sync
async def test_a_reader_error_ends_the_view_with_it() -> None:
    class Failing:
        def scans(self) -> Iterator[Scan]:
            raise PermissionError("no /proc here")  # called in the reader thread

    app = TopApp(Failing(), 1.0, handle_signals=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
    assert isinstance(app.outcome.error, PermissionError)
