"""Terminal rendering of a RunResult (simulate, and later lab): tables only, no computation."""

from rich import box
from rich.console import Group, RenderableType
from rich.constrain import Constrain
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tcpq.kernel.counters import COUNTERS
from tcpq.types import Percentiles, RunResult

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
        ("   simulated ", "dim"),
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


def _timeline(result: RunResult) -> Table:
    series = result.timeseries
    table = Table(title="Over time", title_justify="left", show_edge=False)
    for column in ("t", "accept queue", "SYN queue", "ListenDrops", "handshakes done"):
        table.add_column(column, justify="right")
    for index, t_s in enumerate(series.t_s):
        drops = series.listen_drops[index]
        table.add_row(
            f"{t_s:g} s",
            str(series.accept_queue[index]),
            str(series.syn_queue[index]),
            Text(str(drops), style="bad" if drops else "dim"),
            str(series.handshakes[index]),
        )
    return table


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
