"""What the host commands do: pick namespaces, take samples, diagnose, and choose the rows a view
shows (filters, order, caps). The CLI calls these; the renderers and `--json` show the result.

A use-case, not a reader: it joins observe/ (the readers) to doctor/ (the rules), which is why it
lives in app/ and observe/ never imports doctor (DESIGN.md)."""

import fnmatch
import time
from collections.abc import Iterator, Sequence
from dataclasses import field, replace

from tcpq.errors import PermissionDenied, TcpqError
from tcpq.kernel.resolve import sysctl_rows
from tcpq.kernel.versions import parse_version
from tcpq.model import mib
from tcpq.observe.holder_search import HolderSearch
from tcpq.observe.netns import NetnsGone, NetnsRef, current_netns, list_netns_report, resolve_netns
from tcpq.observe.processes import ProcessMap
from tcpq.observe.snapshot import Attribution, netns_label, rates_between, take_snapshot
from tcpq.records import frozen
from tcpq.types import Finding, Rates, Severity, Snapshot, SysctlRow

MIN_INTERVAL_S = 0.05
MAX_INTERVAL_S = 3600.0


@frozen
class Sample:
    """Two snapshots of one namespace and the rates between them (before is None for one shot)."""

    before: Snapshot | None
    after: Snapshot
    rates: Rates | None


@frozen
class NotSeen:
    """A namespace that was listed but could not be read, and why: views name it, never skip it."""

    netns: str
    reason: str


@frozen
class Targets:
    """The namespaces to read. With `every` (`--netns all`) one that cannot be read is reported
    as not seen and the others are still shown; a namespace asked for by name must be read."""

    refs: list[NetnsRef]
    every: bool = False
    unlisted: int = 0  # processes or names whose namespace could not be identified (unprivileged)


@frozen
class Scan:
    samples: list[Sample]
    not_seen: list[NotSeen] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the sweep itself could not see


@frozen
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


def target_label(target: Targets) -> str | None:
    """How the views name the one namespace asked for; None for every one (`--netns all`)."""
    return None if target.every else netns_label(target.refs[0])


def namespaces(spec: str | None) -> list[NetnsRef]:
    return targets(spec).refs


def check_interval(interval_s: float) -> float:
    if not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:
        raise TcpqError(
            f"--interval {interval_s:g}: give a value from {MIN_INTERVAL_S} to {MAX_INTERVAL_S:g} seconds"
        )
    return interval_s


def _snapshot(
    ref: NetnsRef,
    pmap: ProcessMap | None,
    previous: Snapshot | None,
    attribution: Attribution,
    search: HolderSearch | None = None,
) -> Snapshot:
    try:
        return take_snapshot(ref, pmap, previous=previous, attribution=attribution, search=search)
    except (FileNotFoundError, ProcessLookupError):
        if ref.is_self:
            raise
        # Read from outside through /proc/PID/net, and that process exited meanwhile.
        raise NetnsGone(f"network namespace {netns_label(ref)} vanished while being read") from None


def _take(
    target: Targets,
    ref: NetnsRef,
    pmap: ProcessMap | None,
    previous: Snapshot | None,
    attribution: Attribution,
    search: HolderSearch | None = None,
) -> Snapshot | NotSeen:
    try:
        return _snapshot(ref, pmap, previous, attribution, search)
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


def _first(
    target: Targets,
    pmap: ProcessMap | None,
    attribution: Attribution,
    search: HolderSearch | None = None,
) -> tuple[list[tuple[NetnsRef, Snapshot]], list[NotSeen]]:
    seen: list[tuple[NetnsRef, Snapshot]] = []
    not_seen: list[NotSeen] = []
    for ref in target.refs:
        taken = _take(target, ref, pmap, None, attribution, search)
        if isinstance(taken, NotSeen):
            not_seen.append(taken)
        else:
            seen.append((ref, taken))
    return seen, not_seen


def _again(
    target: Targets,
    previous: list[tuple[NetnsRef, Snapshot]],
    pmap: ProcessMap | None,
    interval_s: float,
    attribution: Attribution,
) -> tuple[list[tuple[NetnsRef, Sample]], list[NotSeen]]:
    """The second snapshot of each namespace, `interval_s` after `previous`, with rates."""
    time.sleep(check_interval(interval_s))
    seen: list[tuple[NetnsRef, Sample]] = []
    gone: list[NotSeen] = []
    for ref, before in previous:
        after = _take(target, ref, pmap, before, attribution)
        if isinstance(after, NotSeen):
            gone.append(replace(after, reason=f"{after.reason} (during the {interval_s:g} s interval)"))
        else:
            seen.append((ref, Sample(before, after, rates_between(before, after))))
    return seen, gone


def scan(
    target: Targets,
    interval_s: float | None,
    process_map: ProcessMap | None = None,
    attribution: Attribution = Attribution.ALL,
    before: Attribution | None = None,
    search: HolderSearch | None = None,
) -> Scan:
    """One snapshot per namespace, or two `interval_s` apart with rates; with `target.every`, a
    namespace that vanishes (or cannot be entered) on either sample is listed as not seen.

    `attribution` says whose processes the last snapshot names, `before` the first one's of two
    (default: the same), so a view that shows only the last pays only for it. `search`: a
    HolderSearch started earlier (a command starts its walk before its own imports), used for
    one sample of one namespace."""
    earlier = attribution if before is None else before
    pmap = process_map
    if pmap is None and interval_s is not None and earlier is not Attribution.NONE:
        pmap = ProcessMap()  # two attributed samples: the second reads only what changed
    one_sample = interval_s is None and len(target.refs) == 1
    first, not_seen = _first(
        target, pmap, attribution if interval_s is None else earlier, search if one_sample else None
    )
    if interval_s is None:
        return Scan([Sample(None, snap, None) for _, snap in first], not_seen, _sweep_notes(target))
    second, gone = _again(target, first, pmap, interval_s, attribution)
    return Scan([item for _, item in second], not_seen + gone, _sweep_notes(target))


def sample(
    refs: list[NetnsRef], interval_s: float | None, process_map: ProcessMap | None = None
) -> list[Sample]:
    """`scan` of namespaces that must all be read (a vanished one is an error)."""
    return scan(Targets(refs), interval_s, process_map).samples


def watch(
    target: Targets,
    interval_s: float,
    count: int | None = None,
    attribution: Attribution = Attribution.ALL,
) -> Iterator[Scan]:
    """A Scan every `interval_s` (rates over the last interval); `count` bounds the loop. A
    namespace that vanishes stays listed as not seen in every later frame."""
    pmap = ProcessMap()
    previous, gone = _first(target, pmap, attribution)
    done = 0
    while count is None or done < count:
        current, lost = _again(target, previous, pmap, interval_s, attribution)
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


@frozen
class DoctorRun:
    reports: list[DoctorReport]
    not_seen: list[NotSeen] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def doctor(target: Targets, interval_s: float) -> DoctorRun:
    """Two samples of each namespace and the findings between them; with `--netns all` a
    namespace that vanishes is listed as not seen, never an error."""
    from tcpq.doctor import diagnose  # the rules: only for doctor, not for every host command

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
