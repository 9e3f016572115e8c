"""What the host commands do: pick namespaces, take samples, diagnose. The CLI calls these."""

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

from tcpq.doctor import diagnose
from tcpq.errors import TcpqError
from tcpq.kernel.resolve import sysctl_rows
from tcpq.kernel.versions import parse_version
from tcpq.model import mib
from tcpq.observe.netns import NetnsRef, current_netns, list_netns, resolve_netns
from tcpq.observe.processes import ProcessMap
from tcpq.observe.snapshot import rates_between, take_snapshot
from tcpq.types import Finding, Rates, Severity, Snapshot, SysctlRow

MIN_INTERVAL_S = 0.05
MAX_INTERVAL_S = 3600.0


@dataclass(frozen=True)
class Sample:
    """Two snapshots of one namespace and the rates between them (before is None for one shot)."""

    before: Snapshot | None
    after: Snapshot
    rates: Rates | None


@dataclass(frozen=True)
class DoctorReport:
    netns: str
    interval_s: float
    findings: list[Finding]


def namespaces(spec: str | None) -> list[NetnsRef]:
    """`None`/"self" → the caller's; "all" → every namespace found; else a name or a pid."""
    if spec is None or spec == "self":
        return [current_netns()]
    if spec == "all":
        return list_netns()
    return [resolve_netns(spec)]


def check_interval(interval_s: float) -> float:
    if not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:
        raise TcpqError(
            f"--interval {interval_s:g}: give a value from {MIN_INTERVAL_S} to {MAX_INTERVAL_S:g} seconds"
        )
    return interval_s


def sample(
    refs: list[NetnsRef], interval_s: float | None, process_map: ProcessMap | None = None
) -> list[Sample]:
    """One snapshot per namespace, or two `interval_s` apart with rates."""
    pmap = process_map or ProcessMap()
    first = [take_snapshot(ref, pmap) for ref in refs]
    if interval_s is None:
        return [Sample(None, snap, None) for snap in first]
    time.sleep(check_interval(interval_s))
    out = []
    for ref, before in zip(refs, first, strict=True):
        after = take_snapshot(ref, pmap, previous=before)
        out.append(Sample(before, after, rates_between(before, after)))
    return out


def watch(refs: list[NetnsRef], interval_s: float, count: int | None = None) -> Iterator[list[Sample]]:
    """Samples every `interval_s` (rates over the last interval); `count` bounds the loop."""
    pmap = ProcessMap()
    previous = [take_snapshot(ref, pmap) for ref in refs]
    done = 0
    while count is None or done < count:
        time.sleep(check_interval(interval_s))
        current = [take_snapshot(ref, pmap, previous=prev) for ref, prev in zip(refs, previous, strict=True)]
        yield [Sample(p, c, rates_between(p, c)) for p, c in zip(previous, current, strict=True)]
        previous = current
        done += 1


def status_counter_names(snapshot: Snapshot, show_all: bool) -> list[str]:
    if show_all:
        return sorted(snapshot.counters)
    return [name for name in mib.REPORTED if name in snapshot.counters]


def sysctl_view(snapshot: Snapshot) -> list[SysctlRow]:
    return sysctl_rows(snapshot.sysctl, parse_version(snapshot.kernel_release))


def doctor(refs: list[NetnsRef], interval_s: float) -> list[DoctorReport]:
    reports = []
    for item in sample(refs, interval_s):
        assert item.before is not None and item.rates is not None
        reports.append(
            DoctorReport(
                item.after.netns, item.rates.interval_s, diagnose(item.before, item.after, item.rates)
            )
        )
    return reports


def worst(reports: list[DoctorReport]) -> Severity | None:
    order = [Severity.CRITICAL, Severity.WARNING, Severity.INFO]
    present = {finding.severity for report in reports for finding in report.findings}
    return next((severity for severity in order if severity in present), None)


_SYSCTL_RE = re.compile(r"sysctl -w (?P<name>[\w.]+)=(?P<value>\"[^\"]*\"|\S+?)(?=[;,)\s]|$)")


def sysctl_snippet(reports: list[DoctorReport]) -> str:
    """The sysctl lines the findings suggest, as a commented sysctl.d file (never applied by tcpq)."""
    lines = [
        "# Suggested by `tcpq doctor`. Review before use; tcpq applies nothing itself.",
        "# Install as /etc/sysctl.d/90-tcpq.conf (host) or apply inside the namespace named per block.",
    ]
    seen: set[tuple[str, str, str]] = set()
    for report in reports:
        for finding in report.findings:
            for match in _SYSCTL_RE.finditer(finding.remedy):
                name, value = match.group("name"), match.group("value").strip('"')
                key = (report.netns, name, value)
                if key in seen:
                    continue
                seen.add(key)
                lines += [
                    "",
                    f"# {finding.id}: {finding.title}",
                    f"# namespace: {report.netns}",
                    f"{name} = {value}",
                ]
    return "\n".join(lines) + "\n"


def grouped_states(snapshots: list[Snapshot], by: str) -> dict[str, dict[str, int]]:
    """State counts keyed by what `tcpq states --by` asks for."""
    if by == "netns":
        return {snap.netns: snap.states for snap in snapshots}
    out: dict[str, dict[str, int]] = {}
    for snap in snapshots:
        prefix = "" if len(snapshots) == 1 else f"{snap.netns}: "
        if by == "state":
            out[prefix + "all"] = snap.states
        elif by == "process":
            out.update({f"{prefix}{row.comm}/{row.pid}": row.states for row in snap.states_by_process})
        elif by == "port":
            out.update({prefix + key: value for key, value in snap.states_by_port.items()})
        else:
            out.update({prefix + key: value for key, value in snap.states_by_remote.items()})
    return out
