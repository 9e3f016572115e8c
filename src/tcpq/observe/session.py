"""What the host commands do: pick namespaces, take samples, diagnose, and choose the rows a view
shows (filters, order, caps). The CLI calls these; the renderers and `--json` show the result."""

import fnmatch
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from tcpq.doctor import diagnose
from tcpq.errors import PermissionDenied, TcpqError
from tcpq.kernel.resolve import sysctl_rows
from tcpq.kernel.states import STATES
from tcpq.kernel.versions import parse_version
from tcpq.model import mib
from tcpq.observe.aggregate import REMOTE_PORT_PREFIX
from tcpq.observe.netns import NetnsGone, NetnsRef, current_netns, list_netns_report, resolve_netns
from tcpq.observe.processes import ProcessMap
from tcpq.observe.snapshot import netns_label, rates_between, take_snapshot
from tcpq.types import Finding, Listener, Rates, Severity, Snapshot, SysctlRow

MIN_INTERVAL_S = 0.05
MAX_INTERVAL_S = 3600.0
MAX_PORT = 65535
NO_PROCESS = "(no process)"
STATE_NAMES = frozenset(info.netstat_name for info in STATES.values() if info.netstat_name)
GROUP_SORTS = ("total", "name")  # and any state name
LISTENER_SORTS = ("port", "accept-queue", "syn-recv", "drops")


@dataclass(frozen=True)
class Sample:
    """Two snapshots of one namespace and the rates between them (before is None for one shot)."""

    before: Snapshot | None
    after: Snapshot
    rates: Rates | None


@dataclass(frozen=True)
class NotSeen:
    """A namespace that was listed but could not be read, and why: views name it, never skip it."""

    netns: str
    reason: str


@dataclass(frozen=True)
class Targets:
    """The namespaces to read. With `every` (`--netns all`) one that cannot be read is reported
    as not seen and the others are still shown; a namespace asked for by name must be read."""

    refs: list[NetnsRef]
    every: bool = False
    unlisted: int = 0  # processes or names whose namespace could not be identified (unprivileged)


@dataclass(frozen=True)
class Scan:
    samples: list[Sample]
    not_seen: list[NotSeen] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the sweep itself could not see


@dataclass(frozen=True)
class DoctorReport:
    netns: str
    interval_s: float
    findings: list[Finding]


def targets(spec: str | None) -> Targets:
    """`None`/"self" → the caller's; "all" → every namespace found; else a name or a pid."""
    if spec is None or spec == "self":
        return Targets([current_netns()])
    if spec == "all":
        refs, unlisted = list_netns_report()
        return Targets(refs, every=True, unlisted=unlisted)
    return Targets([resolve_netns(spec)])


def namespaces(spec: str | None) -> list[NetnsRef]:
    return targets(spec).refs


def check_interval(interval_s: float) -> float:
    if not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:
        raise TcpqError(
            f"--interval {interval_s:g}: give a value from {MIN_INTERVAL_S} to {MAX_INTERVAL_S:g} seconds"
        )
    return interval_s


def _snapshot(ref: NetnsRef, pmap: ProcessMap, previous: Snapshot | None) -> Snapshot:
    try:
        return take_snapshot(ref, pmap, previous=previous)
    except (FileNotFoundError, ProcessLookupError):
        if ref.is_self:
            raise
        # Read from outside through /proc/PID/net, and that process exited meanwhile.
        raise NetnsGone(f"network namespace {netns_label(ref)} vanished while being read") from None


def _take(target: Targets, ref: NetnsRef, pmap: ProcessMap, previous: Snapshot | None) -> Snapshot | NotSeen:
    try:
        return _snapshot(ref, pmap, previous)
    except (NetnsGone, PermissionDenied) as exc:
        if not target.every:
            raise
        return NotSeen(netns_label(ref), str(exc))


def _sweep_notes(target: Targets) -> list[str]:
    if not target.unlisted:
        return []
    return [
        f"{target.unlisted} process(es) or /run/netns name(s) could not be inspected (permission "
        "denied; run as root): their namespaces may be missing here"
    ]


def _first(target: Targets, pmap: ProcessMap) -> tuple[list[tuple[NetnsRef, Snapshot]], list[NotSeen]]:
    seen: list[tuple[NetnsRef, Snapshot]] = []
    not_seen: list[NotSeen] = []
    for ref in target.refs:
        taken = _take(target, ref, pmap, None)
        if isinstance(taken, NotSeen):
            not_seen.append(taken)
        else:
            seen.append((ref, taken))
    return seen, not_seen


def _again(
    target: Targets, previous: list[tuple[NetnsRef, Snapshot]], pmap: ProcessMap, interval_s: float
) -> tuple[list[tuple[NetnsRef, Sample]], list[NotSeen]]:
    """The second snapshot of each namespace, `interval_s` after `previous`, with rates."""
    time.sleep(check_interval(interval_s))
    seen: list[tuple[NetnsRef, Sample]] = []
    gone: list[NotSeen] = []
    for ref, before in previous:
        after = _take(target, ref, pmap, before)
        if isinstance(after, NotSeen):
            gone.append(replace(after, reason=f"{after.reason} (during the {interval_s:g} s interval)"))
        else:
            seen.append((ref, Sample(before, after, rates_between(before, after))))
    return seen, gone


def scan(target: Targets, interval_s: float | None, process_map: ProcessMap | None = None) -> Scan:
    """One snapshot per namespace, or two `interval_s` apart with rates; with `target.every`, a
    namespace that vanishes (or cannot be entered) on either sample is listed as not seen."""
    pmap = process_map or ProcessMap()
    first, not_seen = _first(target, pmap)
    if interval_s is None:
        return Scan([Sample(None, snap, None) for _, snap in first], not_seen, _sweep_notes(target))
    second, gone = _again(target, first, pmap, interval_s)
    return Scan([item for _, item in second], not_seen + gone, _sweep_notes(target))


def sample(
    refs: list[NetnsRef], interval_s: float | None, process_map: ProcessMap | None = None
) -> list[Sample]:
    """`scan` of namespaces that must all be read (a vanished one is an error)."""
    return scan(Targets(refs), interval_s, process_map).samples


def watch(target: Targets, interval_s: float, count: int | None = None) -> Iterator[Scan]:
    """A Scan every `interval_s` (rates over the last interval); `count` bounds the loop. A
    namespace that vanishes stays listed as not seen in every later frame."""
    pmap = ProcessMap()
    previous, gone = _first(target, pmap)
    done = 0
    while count is None or done < count:
        current, lost = _again(target, previous, pmap, interval_s)
        gone += lost
        yield Scan([item for _, item in current], list(gone), _sweep_notes(target))
        previous = [(ref, item.after) for ref, item in current]
        done += 1


def status_counter_names(snapshot: Snapshot, show_all: bool) -> list[str]:
    if show_all:
        return sorted(snapshot.counters)
    return [name for name in mib.REPORTED if name in snapshot.counters]


def _glob(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(name.lower(), pattern.lower())


def counter_names(snapshot: Snapshot, show_all: bool, patterns: Sequence[str] = ()) -> list[str]:
    """The counters a view shows: nstat-like globs (case-insensitive) over every counter, or
    the connection-handling ones (all of them with `show_all`)."""
    if not patterns:
        return status_counter_names(snapshot, show_all)
    every = status_counter_names(snapshot, True)
    return [name for name in every if any(_glob(name, pattern) for pattern in patterns)]


def check_counter_patterns(snapshots: Sequence[Snapshot], patterns: Sequence[str]) -> None:
    """A pattern that matches no counter is a mistake: say so, with the nearest names."""
    known = sorted({name for snapshot in snapshots for name in snapshot.counters})
    for pattern in patterns:
        if not any(_glob(name, pattern) for name in known):
            near = [name for name in known if _glob(name, f"*{pattern}*")][:3]
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise TcpqError(
                f"no counter matches {pattern!r}{hint} (patterns are shell globs on nstat names,"
                " case-insensitive, e.g. 'TcpExt*Listen*'; `tcpq counters --all` lists them)"
            )


def sysctl_view(snapshot: Snapshot) -> list[SysctlRow]:
    return sysctl_rows(snapshot.sysctl, parse_version(snapshot.kernel_release))


@dataclass(frozen=True)
class DoctorRun:
    reports: list[DoctorReport]
    not_seen: list[NotSeen] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def doctor(target: Targets, interval_s: float) -> DoctorRun:
    """Two samples of each namespace and the findings between them; with `--netns all` a
    namespace that vanishes is listed as not seen, never an error."""
    result = scan(target, interval_s)
    reports = []
    for item in result.samples:
        assert item.before is not None and item.rates is not None
        reports.append(
            DoctorReport(
                item.after.netns, item.rates.interval_s, diagnose(item.before, item.after, item.rates)
            )
        )
    # What a sample could not see (unprivileged, no inet_diag) qualifies its findings: say it.
    notes = result.notes + [
        note if item.after.netns == "self" else f"{item.after.netns}: {note}"
        for item in result.samples
        for note in item.after.notes
    ]
    return DoctorRun(reports, result.not_seen, notes)


def worst(reports: list[DoctorReport]) -> Severity | None:
    order = [Severity.CRITICAL, Severity.WARNING, Severity.INFO]
    present = {finding.severity for report in reports for finding in report.findings}
    return next((severity for severity in order if severity in present), None)


# -- what a view shows: --sport/--dport, --sort, --top --------------------------------------


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
