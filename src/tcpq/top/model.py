"""What `tcpq top` shows, as data: from a Scan and the UI state (sort, direction, filter, scope,
paused) to the rows and lines on screen. Pure (no Textual, no I/O), so every key's effect is
unit-tested on hand-built Snapshots; app.py only puts these strings on the screen."""

from collections.abc import Callable, Sequence
from dataclasses import field, replace

from tcpq.app.host_session import NotSeen, Sample, Scan, status_counter_names
from tcpq.records import frozen
from tcpq.types import Listener

ALL = "all"  # the scope that shows every namespace the source read
SELF = "self"  # the label of the caller's own namespace (observe.snapshot.netns_label)
LISTENER_CAP = 200  # rows a terminal can usefully show; the rest are counted as "N more"
NO_RATE = -1.0  # sorts a listener whose drops/s is unknown below one that drops nothing


@frozen
class Column:
    key: str
    label: str
    numeric: bool  # numeric columns sort worst (largest) first and are right-aligned


# Display order: the numbers first, then address:port, so the two things an operator reads
# first (who drops, where) fit in 80 columns; process and namespace may be cut off there.
COLUMNS: tuple[Column, ...] = (
    Column("drops", "drops/s", True),
    Column("fill", "fill %", True),
    Column("accept_queue", "accept q", True),
    Column("limit", "limit", True),
    Column("syn_recv", "SYN-RECV", True),
    Column("endpoint", "address:port", False),
    Column("process", "process", False),
    Column("netns", "namespace", False),
)
COLUMN_KEYS = tuple(column.key for column in COLUMNS)
_BY_KEY = {column.key: column for column in COLUMNS}


@frozen
class ViewState:
    """What the keys change. `descending` is the direction of the sort column."""

    sort: str = "drops"
    descending: bool = True
    filter: str = ""
    scope: str = ALL
    paused: bool = False


@frozen
class Row:
    listener: Listener
    cells: tuple[str, ...]  # in COLUMNS order


@frozen
class Frame:
    """One screen: the title line, the listener rows, what the cap left out, the summary lines."""

    title: str
    rows: list[Row]
    more: int  # listeners that match but are beyond the cap
    more_line: str
    states_line: str
    rates_line: str
    notes: list[str] = field(default_factory=list)


# -- the keys ---------------------------------------------------------------------------------


def sort_by(state: ViewState, key: str) -> ViewState:
    """Choose a column; numbers start worst first, text A to Z (choosing it again keeps it)."""
    if key not in _BY_KEY:
        raise ValueError(f"no column {key!r}")
    if key == state.sort:
        return state
    return replace(state, sort=key, descending=_BY_KEY[key].numeric)


def next_sort(state: ViewState) -> ViewState:
    index = COLUMN_KEYS.index(state.sort)
    return sort_by(state, COLUMN_KEYS[(index + 1) % len(COLUMN_KEYS)])


def reverse(state: ViewState) -> ViewState:
    return replace(state, descending=not state.descending)


def with_filter(state: ViewState, text: str) -> ViewState:
    return replace(state, filter=text.strip())


def toggle_pause(state: ViewState) -> ViewState:
    return replace(state, paused=not state.paused)


def scopes(scan: Scan | None) -> list[str]:
    """self (when read), all, then each other namespace by name: the order `n` cycles."""
    names = sorted({item.after.netns for item in scan.samples}) if scan else []
    first = [SELF] if SELF in names else []
    return [*first, ALL, *(name for name in names if name != SELF)]


def next_scope(state: ViewState, scan: Scan | None) -> ViewState:
    order = scopes(scan)
    if state.scope not in order:  # its namespace vanished: start again from the top
        return replace(state, scope=order[0])
    return replace(state, scope=order[(order.index(state.scope) + 1) % len(order)])


# -- the rows ---------------------------------------------------------------------------------


def endpoint(listener: Listener) -> str:
    address = f"[{listener.address}]" if ":" in listener.address else listener.address
    return f"{address}:{listener.port}"


def process_name(listener: Listener) -> str:
    return listener.processes[0].comm if listener.processes else ""


def fill(listener: Listener) -> float:
    """How full the accept queue is: it holds limit + 1, so a full queue is 100 %."""
    return listener.accept_queue / (listener.accept_queue_limit + 1)


def _rate_text(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:.1f}"


def cells(listener: Listener) -> tuple[str, ...]:
    return (
        _rate_text(listener.drops_per_s),
        f"{fill(listener) * 100:.0f}%",
        str(listener.accept_queue),
        str(listener.accept_queue_limit),
        str(listener.syn_recv),
        endpoint(listener),
        process_name(listener),
        listener.netns,
    )


_SORT_VALUE: dict[str, Callable[[Listener], float | str]] = {
    "drops": lambda lst: NO_RATE if lst.drops_per_s is None else lst.drops_per_s,
    "fill": fill,
    "accept_queue": lambda lst: lst.accept_queue,
    "limit": lambda lst: lst.accept_queue_limit,
    "syn_recv": lambda lst: lst.syn_recv,
    "endpoint": endpoint,
    "process": process_name,
    "netns": lambda lst: lst.netns,
}


def _identity(listener: Listener) -> tuple[str, str, int, int]:
    return (listener.netns, listener.address, listener.port, listener.inode)


def ordered(listeners: Sequence[Listener], state: ViewState) -> list[Listener]:
    """Sorted by the chosen column; ties in a fixed order (namespace, address, port) so rows with
    equal values do not swap places from one refresh to the next."""
    steady = sorted(listeners, key=_identity)
    return sorted(steady, key=_SORT_VALUE[state.sort], reverse=state.descending)


def matches(listener: Listener, text: str) -> bool:
    """The filter: a substring (any case) of address:port, a process name or the namespace."""
    if not text:
        return True
    needle = text.lower()
    haystacks = [endpoint(listener), listener.netns, *(p.comm for p in listener.processes)]
    return any(needle in hay.lower() for hay in haystacks)


def in_scope(scan: Scan, scope: str) -> list[Sample]:
    return [item for item in scan.samples if scope == ALL or item.after.netns == scope]


# -- the summary lines ------------------------------------------------------------------------


def state_counts(samples: Sequence[Sample]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for item in samples:
        for name, count in item.after.states.items():
            totals[name] = totals.get(name, 0) + count
    return totals


def counter_rates(samples: Sequence[Sample]) -> dict[str, float]:
    """The connection-handling counters (`status_counter_names`) per second, summed over the
    namespaces in scope; a counter without a rate (one sample, a reset) is left out."""
    totals: dict[str, float] = {}
    for item in samples:
        if item.rates is None:
            continue
        for name in status_counter_names(item.after, False):
            value = item.rates.counters_per_s.get(name)
            if value is not None:
                totals[name] = totals.get(name, 0.0) + value
    return totals


def _short(name: str) -> str:
    for prefix in ("TcpExt", "Tcp"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def states_line(counts: dict[str, int]) -> str:
    if not counts:
        return "States: none"
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return "States: " + "  ".join(f"{name} {count}" for name, count in ranked)


def rates_line(rates: dict[str, float]) -> str:
    """Counters that moved, fastest first; the ones at zero are only counted (80 columns)."""
    if not rates:
        return "Rates/s: waiting for a second sample"
    moving = sorted(((n, v) for n, v in rates.items() if v > 0), key=lambda item: (-item[1], item[0]))
    still = len(rates) - len(moving)
    parts = [f"{_short(name)} {value:.1f}" for name, value in moving]
    if still:
        parts.append(f"({still} at 0)")
    return "Rates/s: " + "  ".join(parts)


def _title(state: ViewState, shown: int, matched: int, interval_s: float | None) -> str:
    arrow = "↓" if state.descending else "↑"
    parts = [
        f"tcpq top  netns {state.scope}",
        f"{matched} listener{'s' if matched != 1 else ''}" + (f" ({shown} shown)" if shown < matched else ""),
        f"sort {_BY_KEY[state.sort].label} {arrow}",
    ]
    if interval_s is not None:
        parts.append(f"every {interval_s:.3g} s")
    if state.filter:
        parts.append(f"filter {state.filter!r}")
    if state.paused:
        parts.append("PAUSED")
    return "  ·  ".join(parts)


def _notes(not_seen: Sequence[NotSeen], notes: Sequence[str]) -> list[str]:
    return [f"not seen: {item.netns}: {item.reason}" for item in not_seen] + list(notes)


def _interval(samples: Sequence[Sample]) -> float | None:
    return next((item.rates.interval_s for item in samples if item.rates is not None), None)


def frame(scan: Scan, state: ViewState, cap: int = LISTENER_CAP) -> Frame:
    """The screen for this scan: the listeners in scope that match the filter, in the chosen
    order, the first `cap` of them; states and counter rates of the same namespaces."""
    samples = in_scope(scan, state.scope)
    listeners = [lst for item in samples for lst in item.after.listeners if matches(lst, state.filter)]
    chosen = ordered(listeners, state)
    shown = chosen[:cap]
    more = len(chosen) - len(shown)
    return Frame(
        title=_title(state, len(shown), len(chosen), _interval(samples)),
        rows=[Row(lst, cells(lst)) for lst in shown],
        more=more,
        more_line=f"{more} more (worst {len(shown)} shown by {_BY_KEY[state.sort].label})" if more else "",
        states_line=states_line(state_counts(samples)),
        rates_line=rates_line(counter_rates(samples)),
        notes=_notes(scan.not_seen, scan.notes),
    )


def waiting(state: ViewState, interval_s: float) -> Frame:
    """Before the first scan: rates need two samples, one interval apart."""
    return Frame(
        title=_title(state, 0, 0, interval_s),
        rows=[],
        more=0,
        more_line=f"reading (the first rates come after {interval_s:.3g} s)",
        states_line="",
        rates_line="",
    )
