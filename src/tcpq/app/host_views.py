"""What a host view shows of a scan: the rows `--sport/--dport`, `--sort` and `--top` choose, the
state groups of `tcpq states` and the listeners of `tcpq status`. Pure over Snapshots; the CLI
calls these and the renderers show the result."""

import re
from collections.abc import Callable
from dataclasses import replace

from tcpq.app.host_session import NotSeen, Sample, Scan, status_counter_names, sysctl_view
from tcpq.errors import TcpqError
from tcpq.kernel.states import STATES
from tcpq.observe.aggregate import REMOTE_PORT_PREFIX
from tcpq.observe.snapshot import Attribution
from tcpq.records import frozen
from tcpq.types import Listener, Rates, Snapshot, SysctlRow

MAX_PORT = 65535
NO_PROCESS = "(no process)"
STATE_NAMES = frozenset(info.netstat_name for info in STATES.values() if info.netstat_name)
GROUP_SORTS = ("total", "name")  # and any state name
LISTENER_SORTS = ("port", "accept-queue", "syn-recv", "drops")

# Whose processes a view names, so that a scan reads only those (a readlink per fd of every
# process on the host is the dearest part of a scan): status names the listeners' holders,
# `states --by process` every socket's, the other groupings none.
STATUS_ATTRIBUTION = Attribution.LISTENERS


def states_attribution(by: str) -> Attribution:
    return Attribution.ALL if by == "process" else Attribution.NONE


# -- what a view shows: --sport/--dport, --sort, --top --------------------------------------


@frozen
class Selection:
    """The rows a view keeps and their order. Sockets are counted by service port (a port that
    listens here, or the remote port of a connection elsewhere), so `sport` keeps a listening
    port's sockets and `dport` the connections to a port elsewhere."""

    sport: int | None = None
    dport: int | None = None
    sort: str | None = None
    top: int | None = None

    @property
    def port_key(self) -> str | None:
        """The states_by_port key the port filter keeps, or None for no filter."""
        if self.sport is not None:
            return str(self.sport)
        if self.dport is not None:
            return f"{REMOTE_PORT_PREFIX}{self.dport}"
        return None


@frozen
class More:
    """What a capped list left out: rows, and the sockets they hold."""

    rows: int
    sockets: int


def _port(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= MAX_PORT:
        raise TcpqError(f"{flag} {value!r}: give a port number from 1 to {MAX_PORT}")
    return int(value)


def _top(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise TcpqError(f"--top {value!r}: give a number of rows, 1 or more")
    return int(value)


def _squashed(name: str) -> str:
    return name.upper().replace("_", "").replace("-", "")


def _group_sort(value: str | None) -> str:
    if value is None or value.lower() in GROUP_SORTS:
        return (value or "total").lower()
    state = next((name for name in STATE_NAMES if _squashed(name) == _squashed(value)), None)
    if state is None:
        raise TcpqError(f"--sort {value!r}: give total, name or a state ({', '.join(sorted(STATE_NAMES))})")
    return state


def _listener_sort(value: str | None) -> str:
    if value is None or value.lower() in LISTENER_SORTS:
        return (value or "port").lower()
    raise TcpqError(f"--sort {value!r}: give one of {', '.join(LISTENER_SORTS)}")


def selection(
    sport: str | None, dport: str | None, sort: str | None, top: str | None, *, listeners: bool = False
) -> Selection:
    """Check the options as typed; `listeners`: --sort orders status's listeners, not groups."""
    chosen = Selection(
        _port(sport, "--sport"),
        _port(dport, "--dport"),
        _listener_sort(sort) if listeners else _group_sort(sort),
        _top(top),
    )
    if chosen.sport is not None and chosen.dport is not None:
        raise TcpqError("give --sport or --dport, not both: sockets are counted by one service port each")
    return chosen


Rows = list[tuple[str, dict[str, int]]]


def _capped(rows: Rows, top: int | None) -> tuple[dict[str, dict[str, int]], More | None]:
    if top is None or len(rows) <= top:
        return dict(rows), None
    rest = rows[top:]
    return dict(rows[:top]), More(len(rest), sum(sum(counts.values()) for _, counts in rest))


def _natural(key: str) -> list[tuple[int, int | str]]:
    """Sort key with numbers compared as numbers ("remote 80" before "remote 443")."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", key) if part]


def _ordered(groups: dict[str, dict[str, int]], sort: str) -> Rows:
    rows = list(groups.items())
    if sort == "name":
        return sorted(rows, key=lambda row: _natural(row[0]))
    rows.sort(key=lambda row: _natural(row[0]))
    rows.sort(key=lambda row: -sum(row[1].values()))
    if sort != "total":
        rows.sort(key=lambda row: -row[1].get(sort, 0))
    return rows


# -- states --------------------------------------------------------------------------------


@frozen
class StatesView:
    """`tcpq states`: the groups shown (in order) and what was left out or could not be seen."""

    by: str
    groups: dict[str, dict[str, int]]
    more: More | None
    sockets: int  # every socket counted (after the port filter), shown or not
    sort: str
    sport: int | None
    dport: int | None
    not_seen: list[NotSeen]
    notes: list[str]


def without_process(snapshot: Snapshot) -> dict[str, int]:
    """States of the sockets no process holds. Without the exact count in the snapshot: LISTEN
    from the listeners, the others as totals minus the owned (low only if a socket is shared)."""
    if snapshot.states_without_process is not None:
        return snapshot.states_without_process
    owned: dict[str, int] = {}
    for row in snapshot.states_by_process:
        for state, count in row.states.items():
            owned[state] = owned.get(state, 0) + count
    out = {state: count - owned.get(state, 0) for state, count in snapshot.states.items()}
    out["LISTEN"] = sum(1 for listener in snapshot.listeners if not listener.processes)
    return {state: count for state, count in out.items() if count > 0}


def _states_of(snapshot: Snapshot, port_key: str | None) -> dict[str, int]:
    return snapshot.states if port_key is None else snapshot.states_by_port.get(port_key, {})


def _groups_of(snapshot: Snapshot, by: str, port_key: str | None) -> dict[str, dict[str, int]]:
    if by in ("state", "netns"):
        return {("all" if by == "state" else snapshot.netns): _states_of(snapshot, port_key)}
    if by == "process":
        groups = {f"{row.comm}/{row.pid}": row.states for row in snapshot.states_by_process}
        unowned = without_process(snapshot)
        return groups | ({NO_PROCESS: unowned} if unowned else {})
    if by == "port":
        if port_key is None:
            return snapshot.states_by_port
        return {port_key: snapshot.states_by_port[port_key]} if port_key in snapshot.states_by_port else {}
    return snapshot.states_by_remote


def grouped_states(
    snapshots: list[Snapshot], by: str, selected: Selection | None = None
) -> dict[str, dict[str, int]]:
    """State counts keyed by what `tcpq states --by` asks for: every group, none capped."""
    port_key = (selected or Selection()).port_key
    if port_key is not None and by in ("process", "remote"):
        raise TcpqError(
            f"--sport/--dport with --by {by}: tcpq counts sockets per process and per remote address, "
            "not per port; use --by port, state or netns"
        )
    out: dict[str, dict[str, int]] = {}
    for snap in snapshots:
        prefix = "" if len(snapshots) == 1 or by == "netns" else f"{snap.netns}: "
        out.update({prefix + key: counts for key, counts in _groups_of(snap, by, port_key).items()})
    return out


def _filter_notes(snapshots: list[Snapshot], selected: Selection) -> list[str]:
    port = selected.sport
    if port is None or any(lst.port == port for snap in snapshots for lst in snap.listeners):
        return []
    return [
        f"nothing listens on port {port} here: --sport counts the sockets of a listening port "
        "(--dport counts connections to a port elsewhere)"
    ]


def _snapshot_notes(snapshots: list[Snapshot]) -> list[str]:
    if len(snapshots) == 1:
        return list(snapshots[0].notes)
    return [f"{snap.netns}: {note}" for snap in snapshots for note in snap.notes]


def states_view(result: Scan, by: str, selected: Selection) -> StatesView:
    snapshots = [s.after for s in result.samples]
    groups = grouped_states(snapshots, by, selected)
    shown, more = _capped(_ordered(groups, selected.sort or "total"), selected.top)
    return StatesView(
        by=by,
        groups=shown,
        more=more,
        sockets=sum(sum(_states_of(snap, selected.port_key).values()) for snap in snapshots),
        sort=selected.sort or "total",
        sport=selected.sport,
        dport=selected.dport,
        not_seen=result.not_seen,
        notes=result.notes + _snapshot_notes(snapshots) + _filter_notes(snapshots, selected),
    )


# -- status --------------------------------------------------------------------------------


@frozen
class StatusView:
    """`tcpq status` of one namespace: the snapshot with the listeners and states selected."""

    snapshot: Snapshot
    rates: Rates | None
    counter_names: list[str]
    sysctls: list[SysctlRow]
    listeners_more: int
    sport: int | None
    dport: int | None
    notes: list[str]


_LISTENER_ORDER: dict[str, Callable[[Listener], tuple[float, ...]]] = {
    "port": lambda lst: (lst.port,),
    "accept-queue": lambda lst: (-lst.accept_queue, -lst.syn_recv, lst.port),
    "syn-recv": lambda lst: (-lst.syn_recv, -lst.accept_queue, lst.port),
    "drops": lambda lst: (-(lst.drops_per_s or 0.0), -(lst.drops or 0), lst.port),
}


def _listeners(snapshot: Snapshot, selected: Selection) -> tuple[list[Listener], int]:
    if selected.dport is not None:
        kept: list[Listener] = []  # a listener has no remote port
    else:
        kept = [lst for lst in snapshot.listeners if selected.sport in (None, lst.port)]
    kept = sorted(kept, key=_LISTENER_ORDER[selected.sort or "port"])
    if selected.top is None or len(kept) <= selected.top:
        return kept, 0
    return kept[: selected.top], len(kept) - selected.top


def status_view(item: Sample, selected: Selection, show_all: bool) -> StatusView:
    snapshot = item.after
    listeners, more = _listeners(snapshot, selected)
    chosen = replace(snapshot, listeners=listeners, states=_states_of(snapshot, selected.port_key))
    return StatusView(
        snapshot=chosen,
        rates=item.rates,
        counter_names=status_counter_names(snapshot, show_all),
        sysctls=sysctl_view(snapshot),
        listeners_more=more,
        sport=selected.sport,
        dport=selected.dport,
        notes=_filter_notes([snapshot], selected),
    )
