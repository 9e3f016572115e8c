"""Terminal rendering of a live host: status, states, counters, sysctls (tables only)."""

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tcpq.kernel.counters import COUNTERS
from tcpq.types import Listener, Rates, Snapshot, SysctlRow


def _value(value: int | tuple[int, int] | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, tuple):
        return f"{value[0]} {value[1]}"
    return str(value)


def _owners(listener: Listener) -> str:
    if not listener.processes:
        return "?"
    names = [f"{p.comm}/{p.pid}" for p in listener.processes[:3]]
    more = len(listener.processes) - 3
    return ", ".join(names) + (f" +{more}" if more > 0 else "")


def header(snapshot: Snapshot) -> Panel:
    text = Text.assemble(
        ("netns ", "dim"),
        (snapshot.netns, "key"),
        ("   kernel ", "dim"),
        (snapshot.kernel_release, "key"),
        ("   sockets ", "dim"),
        (str(snapshot.sockets_total), "num"),
        ("   orphans ", "dim"),
        (str(snapshot.orphans), "num"),
    )
    return Panel(text, title=Text("tcpq status", style="title"), title_align="left")


def listeners_table(snapshot: Snapshot) -> Table:
    table = Table(title="Listeners", title_justify="left", show_edge=False)
    for column, justify in (
        ("address:port", "left"),
        ("process", "left"),
        ("accept q", "right"),
        ("limit", "right"),
        ("SYN-RECV", "right"),
        ("drops", "right"),
        ("drops/s", "right"),
        ("", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for listener in snapshot.listeners:
        marks = []
        if listener.full:
            marks.append(Text("FULL", style="bad"))
        if listener.clamped_by_somaxconn:
            marks.append(Text("=somaxconn", style="warn"))
        if listener.reuseport_group:
            marks.append(Text(f"reuseport#{listener.reuseport_group}", style="dim"))
        rate = listener.drops_per_s
        table.add_row(
            f"{listener.address}:{listener.port}",
            _owners(listener),
            Text(str(listener.accept_queue), style="bad" if listener.full else "num"),
            str(listener.accept_queue_limit),
            str(listener.syn_recv),
            _value(listener.drops),
            Text("—" if rate is None else f"{rate:.1f}", style="bad" if rate else "dim"),
            Text(" ").join(marks),
        )
    if not snapshot.listeners:
        table.add_row("(no TCP listener)", "", "", "", "", "", "", "")
    return table


def states_table(snapshot: Snapshot) -> Table:
    table = Table(title="States", title_justify="left", show_edge=False)
    table.add_column("state")
    table.add_column("sockets", justify="right")
    for state, count in snapshot.states.items():
        table.add_row(state, str(count))
    return table


def states_by_process_table(snapshot: Snapshot, limit: int = 20) -> Table:
    table = Table(title="States by process", title_justify="left", show_edge=False)
    table.add_column("process")
    table.add_column("states")
    for row in snapshot.states_by_process[:limit]:
        table.add_row(f"{row.comm}/{row.pid}", "  ".join(f"{s} {n}" for s, n in row.states.items()))
    return table


def rates_table(rates: Rates, names: list[str]) -> Table:
    table = Table(title=f"Counters over {rates.interval_s:.1f} s", title_justify="left", show_edge=False)
    table.add_column("nstat")
    table.add_column("Δ", justify="right")
    table.add_column("/s", justify="right")
    table.add_column("netstat -s", style="dim")
    quiet = 0
    for name in names:
        delta = rates.counter_deltas.get(name)
        if delta is None:
            continue
        if delta == 0:
            quiet += 1
            continue
        info = COUNTERS.get(name)
        table.add_row(
            name,
            Text(str(delta), style="num" if delta else "dim"),
            f"{rates.counters_per_s[name]:.1f}",
            info.netstat_line(delta) if info else "",
        )
    if quiet:
        table.caption = f"{quiet} more counters did not move"
    return table


def counters_table(snapshot: Snapshot, names: list[str]) -> Table:
    table = Table(title="Counters (since boot or namespace creation)", title_justify="left", show_edge=False)
    table.add_column("nstat")
    table.add_column("value", justify="right")
    table.add_column("netstat -s", style="dim")
    for name in names:
        value = snapshot.counters.get(name)
        if value is None:
            continue
        info = COUNTERS.get(name)
        table.add_row(name, str(value), info.netstat_line(value) if info else "")
    return table


def sysctl_table(rows: list[SysctlRow], verbose: bool = False) -> Table:
    table = Table(title="Sysctls", title_justify="left", show_edge=False)
    for column in ("name", "value", "default", "scope", "note"):
        if column != "note":
            table.add_column(column, no_wrap=True)
        elif verbose:
            table.add_column(column, overflow="fold")
        else:
            table.add_column(column, overflow="ellipsis", no_wrap=True, max_width=50)
    for row in rows:
        style = "warn" if row.differs else ""
        note = row.note if row.note else (row.meaning if verbose else "")
        if row.value is None and row.default is None:
            style, note = "dim", note or "not in this kernel"
        table.add_row(
            Text(row.name, style=style),
            Text(_value(row.value), style=style),
            _value(row.default),
            row.scope,
            Text(note, style="dim"),
        )
    return table


def render_status(
    snapshot: Snapshot, rates: Rates | None, counter_names: list[str], sysctls: list[SysctlRow]
) -> RenderableType:
    parts: list[RenderableType] = [header(snapshot), listeners_table(snapshot), states_table(snapshot)]
    if rates is not None:
        parts.append(rates_table(rates, counter_names))
    else:
        parts.append(counters_table(snapshot, counter_names))
    parts.append(sysctl_table(sysctls))
    parts.extend(Text(f"note: {note}", style="warn") for note in snapshot.notes)
    spaced: list[RenderableType] = []
    for part in parts:
        spaced.extend([part, Text("")])
    return Group(*spaced)


def grouped_states_table(groups: dict[str, dict[str, int]], by: str) -> Table:
    states = sorted({state for counts in groups.values() for state in counts})
    table = Table(title=f"States by {by}", title_justify="left", show_edge=False)
    table.add_column(by)
    table.add_column("total", justify="right")
    for state in states:
        table.add_column(state, justify="right")
    for key, counts in groups.items():
        table.add_row(key, str(sum(counts.values())), *(str(counts.get(state, "")) for state in states))
    return table
