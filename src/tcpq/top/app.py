"""The Textual app of `tcpq top`. It renders only: Scans arrive from a source (source.py) in a
thread of their own, model.py turns a Scan and the keys' state into a Frame, and this puts the
Frame on the screen, updating the table's cells in place so a refresh never flickers."""

import asyncio
import signal
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Footer, Input, Static

from tcpq.app.host_session import Scan
from tcpq.records import frozen
from tcpq.top import model
from tcpq.top.source import Feed, ScanSource

FILTER_HINT = "filter: address:port, process or namespace (Enter keeps it, Esc clears it)"
HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # end the view like `q`, then exit 128 + signal


@frozen
class Outcome:
    """Why the app stopped, for the CLI: a key, Ctrl-C, a signal, a reader error or the end."""

    interrupted: bool = False
    signum: int | None = None
    error: BaseException | None = None


class ScanArrived(Message):
    def __init__(self, scan: Scan) -> None:
        super().__init__()
        self.scan = scan


class ReadingFailed(Message):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error


class ReadingEnded(Message):
    pass


def _column_bindings() -> list[BindingType]:
    return [
        Binding(str(number), f"sort_column({number - 1})", f"sort by {column.label}", show=False)
        for number, column in enumerate(model.COLUMNS, start=1)
    ]


class TopApp(App[None]):
    """Listeners worst first, the state counts and the counter rates, refreshed per Scan."""

    TITLE = "tcpq top"
    ENABLE_COMMAND_PALETTE = False  # its ctrl+p would be one more key to explain at 80 columns
    CSS = """
    #title { height: 1; background: $primary-background; }
    #listeners { height: 1fr; }
    #more { height: auto; color: $warning; }
    #summary { height: auto; max-height: 5; }
    #filter { dock: bottom; display: none; }
    #filter.open { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "next_sort", "sort"),
        Binding("r", "reverse", "reverse"),
        Binding("slash", "open_filter", "filter"),
        Binding("p", "pause", "pause"),
        Binding("n", "next_scope", "netns"),
        Binding("q", "quit", "quit"),
        Binding("ctrl+c", "interrupt", "quit", show=False, priority=True),
        *_column_bindings(),
    ]

    def __init__(
        self, source: ScanSource, interval_s: float, *, handle_signals: bool = True, scope: str = model.ALL
    ) -> None:
        super().__init__()
        self.source = source
        self.interval_s = interval_s
        self.handle_signals = handle_signals
        self.state = model.ViewState(scope=scope)
        self.shown: Scan | None = None  # the scan on screen (kept while paused)
        self.latest: Scan | None = None  # the newest scan received
        self.scans_received = 0
        self.outcome = Outcome()
        self._feed: Feed | None = None

    # -- layout and lifecycle -----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield DataTable(id="listeners", cursor_type="row", zebra_stripes=True)
        yield Static(id="more")
        yield Static(id="summary")
        yield Input(placeholder=FILTER_HINT, id="filter")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#listeners", DataTable)
        for column in model.COLUMNS:
            table.add_column(column.label, key=column.key)
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            for signum in HANDLED_SIGNALS:
                loop.add_signal_handler(signum, self._on_signal, signum)
        self._feed = Feed(
            self.source,
            deliver=lambda scan: self.post_message(ScanArrived(scan)),
            failed=lambda error: self.post_message(ReadingFailed(error)),
            ended=lambda: self.post_message(ReadingEnded()),
        )
        self._feed.start()
        self._render_frame(model.waiting(self.state, self.interval_s))

    def on_unmount(self) -> None:
        if self._feed is not None:
            self._feed.stop()
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            for signum in HANDLED_SIGNALS:
                loop.remove_signal_handler(signum)

    def _on_signal(self, signum: int) -> None:
        self.outcome = Outcome(signum=signum)
        self.exit()

    # -- what the reader sends ----------------------------------------------------------------

    def on_scan_arrived(self, message: ScanArrived) -> None:
        self.scans_received += 1
        self.latest = message.scan
        if not self.state.paused:
            self.shown = message.scan
            self._refresh()

    def on_reading_failed(self, message: ReadingFailed) -> None:
        self.outcome = Outcome(error=message.error)
        self.exit()

    def on_reading_ended(self, message: ReadingEnded) -> None:
        self.exit()

    # -- the keys -----------------------------------------------------------------------------

    def _change(self, state: model.ViewState) -> None:
        self.state = state
        self._refresh()

    def action_next_sort(self) -> None:
        self._change(model.next_sort(self.state))

    def action_sort_column(self, index: int) -> None:
        self._change(model.sort_by(self.state, model.COLUMN_KEYS[index]))

    def action_reverse(self) -> None:
        self._change(model.reverse(self.state))

    def action_next_scope(self) -> None:
        self._change(model.next_scope(self.state, self.shown))

    def action_pause(self) -> None:
        self.state = model.toggle_pause(self.state)
        if not self.state.paused:
            self.shown = self.latest
        self._refresh()

    def action_interrupt(self) -> None:
        self.outcome = Outcome(interrupted=True)
        self.exit()

    def action_open_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("open")
        box.value = self.state.filter
        box.focus()

    def on_input_changed(self, message: Input.Changed) -> None:
        self._change(model.with_filter(self.state, message.value))

    def on_input_submitted(self, message: Input.Submitted) -> None:
        self._close_filter()

    def on_key(self, event: events.Key) -> None:
        box = self.query_one("#filter", Input)
        if event.key == "escape" and box.has_class("open"):
            box.value = ""
            self._close_filter()

    def _close_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.remove_class("open")
        self.query_one("#listeners", DataTable).focus()

    # -- rendering ----------------------------------------------------------------------------

    def _refresh(self) -> None:
        if self.shown is None:
            self._render_frame(model.waiting(self.state, self.interval_s))
        else:
            self._render_frame(model.frame(self.shown, self.state))

    def _render_frame(self, shown: model.Frame) -> None:
        self.query_one("#title", Static).update(Text(shown.title, style="bold"))
        self._render_rows(shown.rows)
        self.query_one("#more", Static).update(shown.more_line)
        lines = [line for line in (shown.states_line, shown.rates_line, *shown.notes) if line]
        self.query_one("#summary", Static).update(Text("\n".join(lines)))

    def _render_rows(self, rows: list[model.Row]) -> None:
        """Rows are keyed by position: a refresh rewrites only the cells that changed, adds rows
        at the end or removes them from the end, never clears the table (no flicker)."""
        table = self.query_one("#listeners", DataTable)
        current = table.row_count
        for index, row in enumerate(rows[:current]):
            for key, value in zip(model.COLUMN_KEYS, _aligned(row.cells), strict=True):
                if table.get_cell(str(index), key) != value:
                    table.update_cell(str(index), key, value, update_width=True)
        for index in range(current, len(rows)):
            table.add_row(*_aligned(rows[index].cells), key=str(index))
        for index in range(len(rows), current):
            table.remove_row(str(index))


def _aligned(cells: tuple[str, ...]) -> list[Text]:
    return [
        Text(cell, justify="right" if column.numeric else "left")
        for column, cell in zip(model.COLUMNS, cells, strict=True)
    ]
