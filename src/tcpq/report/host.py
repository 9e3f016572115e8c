"""Terminal rendering of a live host: status, states, counters, sysctls.

Every table fits the width it is drawn at without cutting a value: columns of values keep their
full width, prose wraps, and when that does not fit a narrower layout is used (cells stacked, a
prose column moved under the table). What a view left out is said in a line under it.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.text import Text

from tcpq.kernel.counters import COUNTERS
from tcpq.report.console import ByWidth, Cell, Col, fit_table
from tcpq.types import Listener, Rates, Snapshot, SysctlRow

OWNERS_SHOWN = 3  # processes named per listener; the rest are counted
INDENT = (0, 0, 0, 2)
Build = Callable[[int], RenderableType | None]


# What the views of app/host_session.py hold, as far as drawing needs (report/ never imports observe/).


class NotSeen(Protocol):
    @property
    def netns(self) -> str: ...
    @property
    def reason(self) -> str: ...


class More(Protocol):
    @property
    def rows(self) -> int: ...
    @property
    def sockets(self) -> int: ...


class _Filtered(Protocol):
    @property
    def sport(self) -> int | None: ...
    @property
    def dport(self) -> int | None: ...
    @property
    def notes(self) -> Sequence[str]: ...


class StatusView(_Filtered, Protocol):
    @property
    def snapshot(self) -> Snapshot: ...
    @property
    def rates(self) -> Rates | None: ...
    @property
    def counter_names(self) -> list[str]: ...
    @property
    def sysctls(self) -> list[SysctlRow]: ...
    @property
    def listeners_more(self) -> int: ...


class StatesView(_Filtered, Protocol):
    @property
    def by(self) -> str: ...
    @property
    def groups(self) -> Mapping[str, Mapping[str, int]]: ...
    @property
    def more(self) -> More | None: ...
    @property
    def sockets(self) -> int: ...
    @property
    def not_seen(self) -> Sequence[NotSeen]: ...


def _value(value: int | tuple[int, int] | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, tuple):
        return f"{value[0]} {value[1]}"
    return str(value)


def endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _owners(listener: Listener) -> str:
    if not listener.processes:
        return "?"
    names = [f"{p.comm}/{p.pid}" for p in listener.processes[:OWNERS_SHOWN]]
    more = len(listener.processes) - OWNERS_SHOWN
    return ", ".join(names) + (f" +{more} more" if more > 0 else "")


def _first_fit(width: int, builds: Sequence[Build], last: Callable[[], RenderableType]) -> RenderableType:
    """The first layout that fits `width`; else `last`, drawn wider than asked (rich folds it)."""
    for build in builds:
        table = build(width)
        if table is not None:
            return table
    return last()


def _spaced(parts: Sequence[RenderableType]) -> Group:
    out: list[RenderableType] = []
    for part in parts:
        out.extend([part, Text("")])
    return Group(*out[:-1])


def _lines(lines: Sequence[str], style: str = "dim") -> list[Text]:
    return [Text(line, style=style) for line in lines]


def not_seen_lines(not_seen: Sequence[NotSeen], notes: Sequence[str]) -> list[Text]:
    """What a sweep of namespaces could not see, said before what it saw."""
    out = [Text(f"not seen: {item.netns} ({item.reason})", style="warn") for item in not_seen]
    return out + [Text(f"note: {note}", style="warn") for note in notes]


# -- status --------------------------------------------------------------------------------


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
    return Panel(text, title=Text("tcpq status", style="title"), title_align="left", expand=False)


def _marks(listener: Listener) -> Text:
    marks = []
    if listener.full:
        marks.append(Text("FULL", style="bad"))
    if listener.clamped_by_somaxconn:
        marks.append(Text("=somaxconn", style="warn"))
    if listener.reuseport_group:
        marks.append(Text(f"reuseport#{listener.reuseport_group}", style="dim"))
    return Text(" ").join(marks)


def _numbers(listener: Listener) -> list[Cell]:
    rate = listener.drops_per_s
    return [
        Text(str(listener.accept_queue), style="bad" if listener.full else "num"),
        str(listener.accept_queue_limit),
        str(listener.syn_recv),
        _value(listener.drops),
        Text("—" if rate is None else f"{rate:.1f}", style="bad" if rate else "dim"),
    ]


NUMBER_COLUMNS = [Col(name, right=True) for name in ("accept q", "limit", "SYN-RECV", "drops", "drops/s")]
# The same columns under headers of two short lines, for narrow screens.
NARROW_NUMBER_COLUMNS = [
    Col(name, right=True) for name in ("accept\nqueue", "limit", "SYN-\nRECV", "drops", "drops\n/s")
]


def _owner_lines(listener: Listener) -> list[str]:
    if not listener.processes:
        return ["?"]
    names = [f"{p.comm}/{p.pid}" for p in listener.processes[:OWNERS_SHOWN]]
    more = len(listener.processes) - OWNERS_SHOWN
    return names + ([f"+{more} more"] if more > 0 else [])


def _stacked_cell(listener: Listener) -> Text:
    """The endpoint, then its processes one a line and its marks, in one cell."""
    cell = Text(endpoint(listener.address, listener.port))
    for line in _owner_lines(listener):
        cell.append(f"\n  {line}")
    marks = _marks(listener)
    if marks.plain:
        cell.append("\n  ").append_text(marks)
    return cell


def _listener_block(listener: Listener) -> Text:
    """One listener as wrapped prose: the layout of last resort, for the narrowest screens."""
    rate = listener.drops_per_s
    parts = [
        f"{endpoint(listener.address, listener.port)}  {_owners(listener)}",
        f"\n  accept q {listener.accept_queue} of limit {listener.accept_queue_limit}",
        f"  SYN-RECV {listener.syn_recv}",
        f"  drops {_value(listener.drops)}" + ("" if rate is None else f" ({rate:.1f}/s)"),
    ]
    text = Text("".join(parts))
    marks = _marks(listener)
    return text.append("  ").append_text(marks) if marks.plain else text


def _no_listener(view: StatusView) -> str:
    if view.dport is not None:
        return "(a listener has no remote port: none shown with --dport)"
    if view.sport is not None:
        return f"(no TCP listener on port {view.sport})"
    return "(no TCP listener)"


def listeners_table(view: StatusView) -> RenderableType:
    listeners = view.snapshot.listeners
    wide_cols = [Col("address:port"), Col("process", prose=True), *NUMBER_COLUMNS, Col("", prose=True)]
    stacked_cols = [Col("listener"), *NARROW_NUMBER_COLUMNS]
    wide: list[list[Cell]] = [
        [endpoint(lst.address, lst.port), _owners(lst), *_numbers(lst), _marks(lst)] for lst in listeners
    ]
    stacked: list[list[Cell]] = [[_stacked_cell(lst), *_numbers(lst)] for lst in listeners]
    more = [Text(f"{view.listeners_more} more listeners (--top)", style="dim")] if view.listeners_more else []
    if not listeners:
        return Group(Text("Listeners", style="title"), Text(_no_listener(view), style="dim"), *more)

    def build(width: int) -> RenderableType:
        for table in (
            fit_table("Listeners", wide_cols, wide, width),
            fit_table("Listeners", stacked_cols, stacked, width),
        ):
            if table is not None:
                return Group(table, *more)
        blocks = [_listener_block(lst) for lst in listeners]
        return Group(Text("Listeners", style="title"), *blocks, *more)

    return ByWidth(build)


def _overwide(title: str, columns: Sequence[Col], rows: Sequence[Sequence[Cell]]) -> RenderableType:
    table = fit_table(title, columns, rows, 10_000)
    assert table is not None
    return table


def _fitted(title: str, columns: Sequence[Col], rows: Sequence[Sequence[Cell]], width: int) -> RenderableType:
    """The table at `width`, or wider when its values need it (rich then folds them, never cuts)."""
    return fit_table(title, columns, rows, width) or _overwide(title, columns, rows)


def states_table(view: StatusView) -> RenderableType:
    title = "States"
    if view.sport is not None:
        title = f"States on local port {view.sport}"
    elif view.dport is not None:
        title = f"States to remote port {view.dport}"
    rows: list[list[Cell]] = [[state, str(count)] for state, count in view.snapshot.states.items()]
    if not rows:
        rows = [["(no socket)", ""]]
    cols = [Col("state"), Col("sockets", right=True)]
    return ByWidth(lambda width: _fitted(title, cols, rows, width))


def _prose_table(title: str, columns: list[Col], rows: list[list[Cell]], caption: str | None) -> ByWidth:
    def build(width: int) -> RenderableType:
        table = _fitted(title, columns, rows, width)
        return table if caption is None else Group(table, Text(caption, style="dim"))

    return ByWidth(build)


def rates_table(rates: Rates, names: list[str]) -> RenderableType:
    rows: list[list[Cell]] = []
    quiet = 0
    for name in names:
        delta = rates.counter_deltas.get(name)
        if delta is None:
            continue
        if delta == 0:
            quiet += 1
            continue
        info = COUNTERS.get(name)
        rows.append(
            [
                name,
                Text(str(delta), style="num"),
                f"{rates.counters_per_s[name]:.1f}",
                Text(info.netstat_line(delta) if info else "", style="dim"),
            ]
        )
    cols = [Col("nstat"), Col("Δ", right=True), Col("/s", right=True), Col("netstat -s", prose=True)]
    caption = f"{quiet} more counters did not move" if quiet else None
    return _prose_table(f"Counters over {rates.interval_s:.1f} s", cols, rows, caption)


def counters_table(snapshot: Snapshot, names: list[str]) -> RenderableType:
    rows: list[list[Cell]] = []
    for name in names:
        value = snapshot.counters.get(name)
        if value is None:
            continue
        info = COUNTERS.get(name)
        rows.append([name, str(value), Text(info.netstat_line(value) if info else "", style="dim")])
    cols = [Col("nstat"), Col("value", right=True), Col("netstat -s", prose=True)]
    return _prose_table("Counters (since boot or namespace creation)", cols, rows, None)


# -- sysctls -------------------------------------------------------------------------------

SYSCTL_COLUMNS = [Col("name"), Col("value"), Col("default"), Col("scope"), Col("")]


def _sysctl_cells(row: SysctlRow) -> list[Cell]:
    style = "warn" if row.differs else ""
    if row.value is None and row.default is None:
        style = "dim"
    return [
        Text(row.name, style=style),
        Text(_value(row.value), style=style),
        _value(row.default),
        row.scope,
        Text("*" if row.differs else "", style="warn"),
    ]


def _sysctl_note(row: SysctlRow) -> str:
    if row.note:
        return row.note
    return "not in this kernel" if row.value is None and row.default is None else ""


def _sysctl_prose(row: SysctlRow, verbose: bool, keep_empty: bool = False) -> list[str]:
    """The row's meaning (when `verbose`) and note; empty ones dropped unless they fill columns."""
    texts = ([row.meaning] if verbose else []) + [_sysctl_note(row)]
    return texts if keep_empty else [text for text in texts if text]


def _sysctl_below(rows: list[SysctlRow], verbose: bool) -> list[RenderableType]:
    """The prose of each row as a paragraph under the table, for widths where no column fits it."""
    out: list[RenderableType] = []
    for row in rows:
        prose = _sysctl_prose(row, verbose)
        if prose:
            out.append(Text(row.name, style="key"))
            out.extend(Padding(Text(text, style="dim"), INDENT) for text in prose)
    return [Text("Notes" if not verbose else "Meanings and notes", style="title"), *out] if out else []


def sysctl_table(rows: list[SysctlRow], verbose: bool = False, prose: bool = True) -> RenderableType:
    """`tcpq sysctl`: with `prose`, each row's note (and its meaning when `verbose`) beside it on a
    wide screen, under the table on a narrow one; without, the table only (as in status)."""
    caption = Text("* differs from the kernel default", style="dim")
    if not prose:
        caption.append("; notes and meanings: tcpq sysctl --verbose")
    plain = [_sysctl_cells(row) for row in rows]
    prose_cols = [Col("meaning", prose=True)] if verbose else []
    prose_cols.append(Col("note", prose=True))
    beside = [
        [*cells, *(Text(text, style="dim") for text in _sysctl_prose(row, verbose, keep_empty=True))]
        for cells, row in zip(plain, rows, strict=True)
    ]

    def build(width: int) -> RenderableType:
        if prose:
            table = fit_table("Sysctls", [*SYSCTL_COLUMNS, *prose_cols], beside, width)
            if table is not None:
                return Group(table, caption)
        table = _fitted("Sysctls", SYSCTL_COLUMNS, plain, width)
        below = _sysctl_below(rows, verbose) if prose else []
        return Group(table, caption, *([Text(""), *below] if below else []))

    return ByWidth(build)


def render_status(view: StatusView) -> RenderableType:
    snapshot = view.snapshot
    parts: list[RenderableType] = [header(snapshot), listeners_table(view), states_table(view)]
    if view.rates is not None:
        parts.append(rates_table(view.rates, view.counter_names))
    else:
        parts.append(counters_table(snapshot, view.counter_names))
    parts.append(sysctl_table(view.sysctls, prose=False))
    notes = _lines([f"note: {note}" for note in [*snapshot.notes, *view.notes]], style="warn")
    return _spaced(parts + ([Group(*notes)] if notes else []))


def render_status_scan(
    views: Sequence[StatusView], not_seen: Sequence[NotSeen], notes: Sequence[str]
) -> RenderableType:
    """Every namespace's status, after what could not be seen."""
    missing = not_seen_lines(not_seen, notes)
    parts: list[RenderableType] = [Group(*missing)] if missing else []
    return _spaced(parts + [render_status(view) for view in views])


# -- states --------------------------------------------------------------------------------

NO_PROCESS = "(no process)"  # the group app/host_session.py gives sockets nobody holds
KEY_MEANING = {
    "port": 'port: one that listens here, or "remote N" for connections to port N elsewhere',
    "process": f"{NO_PROCESS}: TIME_WAIT, request socks, children not yet accepted, orphans, "
    "and sockets whose owner could not be read",
}


def _explained(view: StatesView) -> bool:
    if view.by == "process":
        return any(key.endswith(NO_PROCESS) for key in view.groups)
    return view.by in KEY_MEANING


def _more_line(more: More | None, what: str) -> list[Text]:
    if more is None:
        return []
    return [Text(f"{more.rows} more {what}: {more.sockets} sockets (--top)", style="dim")]


def _group_blocks(view: StatesView) -> list[Text]:
    """Each group as wrapped prose: the layout of last resort, for the narrowest screens."""
    return [
        Text(f"{key}  total {sum(counts.values())}\n  " + " ".join(f"{s}={n}" for s, n in counts.items()))
        for key, counts in view.groups.items()
    ]


def grouped_states_table(view: StatesView) -> RenderableType:
    states = sorted({state for counts in view.groups.values() for state in counts})
    key_col = Col(view.by)
    column_rows: list[list[Cell]] = [
        [key, str(sum(counts.values())), *(str(counts.get(state, "")) for state in states)]
        for key, counts in view.groups.items()
    ]
    column_cols = [key_col, Col("total", right=True), *(Col(state, right=True) for state in states)]
    listed_rows: list[list[Cell]] = [
        [key, str(sum(counts.values())), " ".join(f"{state}={n}" for state, n in counts.items())]
        for key, counts in view.groups.items()
    ]
    listed_cols = [key_col, Col("total", right=True), Col("states", prose=True)]
    if not view.groups:
        column_rows = listed_rows = [["(no socket)", "0", ""]]
        column_cols = listed_cols
    sockets = f"{view.sockets} socket{'' if view.sockets == 1 else 's'}"
    title = f"States: {sockets}" if view.by == "state" else f"States by {view.by}: {sockets}"
    if view.sport is not None:
        title += f" on local port {view.sport}"
    elif view.dport is not None:
        title += f" to remote port {view.dport}"

    def build(width: int) -> RenderableType:
        table = _first_fit(
            width,
            [
                lambda w: fit_table(title, column_cols, column_rows, w),
                lambda w: fit_table(title, listed_cols, listed_rows, w),
            ],
            lambda: Group(Text(title, style="title"), *_group_blocks(view)),
        )
        meaning = _lines([KEY_MEANING[view.by]] if _explained(view) else [])
        return Group(table, *_more_line(view.more, "groups"), *meaning)

    missing = not_seen_lines(view.not_seen, view.notes)
    return Group(*missing, *([Text("")] if missing else []), ByWidth(build))
