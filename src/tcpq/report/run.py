"""Terminal rendering of a RunResult (simulate, and later lab): tables only, no computation."""

from rich import box
from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.constrain import Constrain
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tcpq.app.timeline import Kind, Moving, Timeline, resampled, sparkline
from tcpq.app.timeline import timeline as build_timeline
from tcpq.kernel.counters import COUNTERS
from tcpq.report.console import ByWidth
from tcpq.types import Percentiles, RunResult, Source

WIDTH = 80  # the report fits 80 columns in a terminal and in a pipe
DIFFERS = "*"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.3f} s"


def _header(result: RunResult) -> Panel:
    kernel = result.kernel
    text = Text.assemble(
        ("source ", "dim"),
        (result.source.value, "key"),
        ("   kernel ", "dim"),
        (kernel.version, "key"),
        ("   profile ", "dim"),
        (kernel.profile, "key"),
        (f" ({kernel.profile_summary})", "dim"),
        ("   spoofed SYNs ", "dim") if result.attack_syns else ("", ""),
        (str(result.attack_syns), "num") if result.attack_syns else ("", ""),
        ("   seed ", "dim") if result.seed is not None else ("", ""),
        (str(result.seed), "num") if result.seed is not None else ("", ""),
        ("   simulated " if result.source is Source.SIM else "   ran ", "dim"),
        (f"{result.duration_s:g} s", "num"),
    )
    return Panel(text, title=Text(result.scenario, style="title"), title_align="left")


def _outcomes(result: RunResult) -> Table:
    clients = result.clients
    table = Table(title="Client outcomes", title_justify="left", show_edge=False)
    table.add_column("outcome")
    table.add_column("clients", justify="right")
    rows = [
        ("connected", clients.connected, "good"),
        ("refused (ECONNREFUSED)", clients.refused, "bad"),
        ("reset (ECONNRESET)", clients.reset, "bad"),
        ("timed out", clients.timed_out, "bad"),
        ("no local port (EADDRNOTAVAIL)", clients.no_port, "bad"),
        ("pending at the end", clients.pending, "warn"),
    ]
    for label, count, style in rows:
        table.add_row(label, Text(str(count), style=style if count else "dim"))
    table.add_row(Text("attempted", style="title"), Text(str(clients.attempted), style="title"))
    if clients.cookie_connections:
        table.caption = f"{clients.cookie_connections} connections were completed through a SYN cookie"
    return table


def _latency(result: RunResult) -> Table:
    table = Table(title="Latency", title_justify="left", show_edge=False)
    for column in ("", "p50", "p90", "p99", "max"):
        table.add_column(column, justify="right" if column else "left")
    rows: list[tuple[str, Percentiles]] = [("connect()", result.clients.connect_time_s)]
    if result.clients.response_time_s is not None:
        rows.append(("connect() to reply", result.clients.response_time_s))
    for label, pct in rows:
        table.add_row(label, _seconds(pct.p50), _seconds(pct.p90), _seconds(pct.p99), _seconds(pct.max))
    return table


_LOWER_BOUND = "a lower bound: the samples may have missed the peak"


def _peak(value: int, exact: bool) -> str:
    return str(value) if exact else f"≥{value}"


def _listener(result: RunResult) -> Table:
    listener = result.listener
    table = Table(title=f"Listener :{listener.port}", title_justify="left", show_edge=False)
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_column("", style="dim")
    clamp = " (clamped by somaxconn)" if listener.clamped_by_somaxconn else ""
    table.add_row(
        "listen() backlog", str(listener.backlog), f"accept queue limit {listener.accept_queue_limit}{clamp}"
    )
    full = listener.accept_queue_peak > listener.accept_queue_limit
    table.add_row(
        "accept queue peak",
        Text(
            _peak(listener.accept_queue_peak, listener.accept_queue_peak_exact),
            style="bad" if full else "num",
        ),
        "full: holds limit + 1" if full else _LOWER_BOUND if not listener.accept_queue_peak_exact else "",
    )
    lower = "" if listener.syn_queue_peak_exact else f"; {_LOWER_BOUND}"
    table.add_row(
        "SYN queue peak",
        _peak(listener.syn_queue_peak, listener.syn_queue_peak_exact),
        f"limit {listener.syn_queue_limit} request socks{lower}",
    )
    table.add_row("listener drops (ss -m d)", str(listener.sk_drops), "")
    return table


def _counters(title: str, counters: dict[str, int]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column("nstat")
    table.add_column("Δ", justify="right")
    table.add_column("netstat -s", style="dim")
    for name, value in counters.items():
        if value == 0:
            continue
        info = COUNTERS.get(name)
        table.add_row(name, Text(str(value), style="num"), info.netstat_line(value) if info else "")
    if table.row_count == 0:
        table.add_row("(no counter moved)", "", "")
    return table


def _overrides(result: RunResult) -> RenderableType:
    lines = [Text("Overrides", style="title")]
    lines.extend(Text(f"  --set {text}") for text in result.overrides)
    return Group(*lines)


def _value(value: int | tuple[int, int] | None) -> str:
    if value is None:
        return "-"
    return f"{value[0]} {value[1]}" if isinstance(value, tuple) else str(value)


def _setting(value: int | tuple[int, int] | None, differs: bool) -> Text:
    """A value, marked when it differs from the default (unmarked ones padded to line up)."""
    return Text(f"{_value(value)} {DIFFERS}", style="warn") if differs else Text(f"{_value(value)}  ")


def _sysctls(result: RunResult) -> Table:
    kernel = result.kernel
    table = Table(
        title=f"Sysctls the run used ({DIFFERS} differs from the kernel {kernel.version} default)",
        title_justify="left",
        show_edge=False,
        box=box.SIMPLE_HEAD,  # no column rules: the longest name and a port range fit 80 columns
    )
    table.add_column("sysctl", no_wrap=True)
    for column in ("server", "client", "default"):
        table.add_column(column, justify="right")
    server_differs, client_differs = set(result.sysctl_differs), set(result.client_sysctl_differs)
    for name, value in kernel.sysctl.items():
        table.add_row(
            name,
            _setting(value, name in server_differs),
            _setting(kernel.client_sysctl.get(name), name in client_differs),
            Text(_value(result.sysctl_defaults.get(name)), style="dim"),
        )
    return table


# Eight heights of bar; the highest marks a series' peak (the accept queue's: full)
BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_MIN = 8  # narrower than this a sparkline shows no shape
TIMES = ("first", "peak", "last")
TIMELINE_LEGEND = "times in s: first above 0, first at the max, last change (a count: last above 0)"
RESAMPLED = "a bar is the highest of its samples"
CONSTANT = "constant: "


def _when(t_s: float | None) -> str:
    return "-" if t_s is None else f"{t_s:g}"


def _per(kind: Kind, interval_s: float | None) -> str:
    return f" /{interval_s:g} s" if kind is Kind.PER_INTERVAL and interval_s is not None else ""


def _limit(limit: int | None, full: bool) -> str:
    if limit is None:
        return ""
    return f" (limit {limit}: full)" if full else f" (limit {limit})"


def _constants(timeline: Timeline, width: int) -> Text:
    """One line (or more, broken between series, never inside a name) of the series that did not move."""
    text = Text(CONSTANT, style="dim")
    column = len(CONSTANT)
    for index, line in enumerate(timeline.constant):
        per = _per(line.kind, timeline.interval_s) if line.value else ""
        item = f"{line.name} {line.value}{per}{_limit(line.limit, line.full)}"
        if index:
            text.append(",")
            column += 1
            comma = index < len(timeline.constant) - 1  # the comma that will follow the item
            if column + 1 + cell_len(item) + comma > width:
                text.append("\n" + " " * len(CONSTANT))
                column = len(CONSTANT)
            else:
                text.append(" ")
                column += 1
        text.append(item, style="bad" if line.full else "")
        column += cell_len(item)
    return text


def _spark(line: Moving, width: int) -> Text:
    text = Text(no_wrap=True)
    for bar in sparkline(line, width, len(BLOCKS)):
        text.append(BLOCKS[bar.level], style="bad" if bar.full else "num")
    return text


def _times(timeline: Timeline) -> tuple[str, list[str]]:
    """The header and the cells of the times column: three times a cell, lined up under their names
    (one column rather than three saves the width of two gaps for the sparkline)."""
    cells = [
        (_when(line.first_nonzero_s), _when(line.peak_s), _when(line.last_s)) for line in timeline.moving
    ]
    widths = [max(len(name), *(len(cell[i]) for cell in cells)) for i, name in enumerate(TIMES)]
    header = " ".join(name.rjust(width) for name, width in zip(TIMES, widths, strict=True))
    return header, [" ".join(t.rjust(w) for t, w in zip(cell, widths, strict=True)) for cell in cells]


def _timeline_table(timeline: Timeline, width: int) -> RenderableType:
    times_header, times = _times(timeline)
    headers = ("series", "", "range", times_header)
    rows: list[list[str | Text]] = [
        [
            f"{line.name}{_per(line.kind, timeline.interval_s)}{_limit(line.limit, False)}",
            "",
            Text(f"{line.low}–{line.high} full", style="bad") if line.full else f"{line.low}–{line.high}",
            when,
        ]
        for line, when in zip(timeline.moving, times, strict=True)
    ]
    # the sparkline takes what the other columns leave (a cell is padded by a space a side and
    # the columns are split by a space, as in console.fit_table)
    widths = [
        max(cell_len(str(cell)) for cell in (header, *(row[i] for row in rows)))
        for i, header in enumerate(headers)
    ]
    spark_width = max(SPARK_MIN, width - sum(widths) - (3 * len(widths) - 1))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for index, header in enumerate(headers):
        table.add_column(header, justify="right" if index > 1 else "left", no_wrap=True)
    for line, row in zip(timeline.moving, rows, strict=True):
        row[1] = _spark(line, spark_width)
        table.add_row(*row)
    legend = [Text(TIMELINE_LEGEND, style="dim")]
    if resampled(timeline, spark_width):
        legend.append(Text(RESAMPLED, style="dim"))
    return Group(table, *legend)


def _timeline(result: RunResult) -> RenderableType:
    timeline = build_timeline(result.timeseries, result.listener.accept_queue_limit)
    if timeline.interval_s is None:
        return Group(Text("Over time", style="title"), Text("(no samples)", style="dim"))
    title = Text.assemble(
        ("Over time", "title"), (f" ({timeline.samples} samples, one every {timeline.interval_s:g} s)", "dim")
    )
    parts: list[RenderableType] = [title]
    if timeline.moving:
        parts.append(ByWidth(lambda width: _timeline_table(timeline, width)))
    if timeline.constant:
        parts.append(ByWidth(lambda width: _constants(timeline, width)))
    return Group(*parts)


def render_run(result: RunResult) -> RenderableType:
    parts: list[RenderableType] = [
        _header(result),
        _outcomes(result),
        _latency(result),
        _listener(result),
        *([_overrides(result)] if result.overrides else []),
        _sysctls(result),
        _counters("Server namespace counters", result.counters),
        _counters("Client namespace counters", result.client_counters),
        _timeline(result),
    ]
    spaced: list[RenderableType] = []
    for part in parts:
        spaced.extend([part, Text("")])
    spaced.extend(Text(f"note: {note}", style="warn") for note in result.notes)
    return Constrain(Group(*spaced), WIDTH)
