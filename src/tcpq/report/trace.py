"""`tcpq trace` rendered: one line per event (80 columns), the derived lines, the summary, JSON.

Renderers only: every number comes from the trace session; nothing here counts or decides.
"""

from collections.abc import Sequence
from typing import Any

from tcpq.report.json import to_jsonable
from tcpq.trace.attribute import Attribution, ListenerRef
from tcpq.trace.events import Endpoint, Kind
from tcpq.trace.session import EventRecord, Interval, Started, Summary
from tcpq.trace.tally import (
    ESTABLISHED,
    FINAL_ACK_DROP,
    OTHER_DROP,
    PAIRED_RESET,
    RESET_RECEIVED,
    RESET_SENT,
    SYN_RETRANSMIT,
    SYN_TIME_DROP,
    SYNACK_RETRANSMIT,
    NetnsInterval,
)

WIDTH = 80
NETNS_W = 12
LISTENER_W = 6
WHAT_W = 22
PEER_W = 21
SHORT_COUNTERS = {
    "TcpExtListenOverflows": "overflows",
    "TcpExtListenDrops": "listendrops",
    "TcpExtTCPReqQFullDrop": "reqqfull-drop",
    "TcpExtTCPReqQFullDoCookies": "reqqfull-cookie",
    "TcpExtSyncookiesSent": "cookies-sent",
    "TcpExtSyncookiesRecv": "cookies-recv",
    "TcpExtSyncookiesFailed": "cookies-failed",
    "TcpExtTCPSynRetrans": "synretrans",
}
SUMMARY_COLUMNS = (
    (SYN_RETRANSMIT, "SYN rtx"),
    (SYNACK_RETRANSMIT, "SYNACK rtx"),
    (SYN_TIME_DROP, "SYN drop"),
    (FINAL_ACK_DROP, "ACK drop"),
    (PAIRED_RESET, "RST ovf"),
    (ESTABLISHED, "estab"),
)


def _fit(text: str, width: int) -> str:
    """Cut from the left: namespace names differ at their end (tcpq-test-123-1, -2)."""
    return text if len(text) <= width else "…" + text[len(text) - width + 1 :]


def _listener(ref: ListenerRef | None) -> str:
    return f":{ref.port}" if ref is not None else "?"


def _what(record: EventRecord) -> str:
    event = record.event
    if event.kind is Kind.STATE:
        return f"{event.oldstate}→{event.newstate}"
    if event.kind is Kind.SYN_RETRANSMIT:
        return "SYN retransmit" if event.state == "SYN_SENT" else f"retransmit {event.state}"
    if event.kind is Kind.SYNACK_RETRANSMIT:
        return "SYN-ACK retransmit"
    if event.kind is Kind.DROP:
        if event.reason == "TCP_LISTEN_OVERFLOW":
            return "final ACK dropped" + (" +RST" if record.paired_reset else "")
        return f"drop {event.reason}"
    if event.kind is Kind.RESET_SENT:
        return f"RST sent {event.reason}"
    return "RST received"


def _peer(record: EventRecord) -> str:
    event = record.event
    if event.kind in (Kind.SYNACK_RETRANSMIT, Kind.RESET_SENT):
        end = event.remote
    elif (
        record.where.listener is not None
        and event.local is not None
        and (event.local.port == record.where.listener.port)
    ):
        end = event.remote  # the server's side: show the client
    else:
        end = event.local  # a client's socket: itself
    return str(end) if end is not None else "-"


def _process(where: Attribution) -> str:
    return f"{where.process.comm}/{where.process.pid}" if where.process is not None else "-"


def event_line(record: EventRecord) -> str:
    """`  1.234 tcpq-test-1  :8080  final ACK dropped      127.0.0.1:40112       python3/812`"""
    netns = _fit(record.where.netns or "unknown", NETNS_W)
    head = (
        f"{record.t:7.3f} {netns:<{NETNS_W}} {_listener(record.where.listener):<{LISTENER_W}} "
        f"{_fit(_what(record), WHAT_W):<{WHAT_W}} {_fit(_peer(record), PEER_W):<{PEER_W}} "
    )
    return (head + _process(record.where))[:WIDTH]


def _on(row: NetnsInterval) -> str:
    if row.listener is None:
        return f"in {_fit(row.netns, 20)}"
    return f"on :{row.listener.port} ({_fit(row.netns, NETNS_W)})"


def interval_lines(interval: Interval) -> list[str]:
    """Per namespace with something to say: its counter deltas, then the derived lines."""
    lines = []
    for row in interval.namespaces:
        moved = [f"{SHORT_COUNTERS[name]} +{value}" for name, value in row.counters.items() if value]
        line = f"{interval.t:7.3f} ── {_fit(row.netns, NETNS_W)}"
        for item in moved:  # wrapped, never cut: every counter that moved is shown
            if len(line) + 1 + len(item) > WIDTH:
                lines.append(line)
                line = " " * 11 + " " * NETNS_W
            line += " " + item
        if moved:
            lines.append(line)
        if row.syn_time_drops:
            lines.append(f"{interval.t:7.3f} ── {row.syn_time_drops} SYNs dropped at SYN time {_on(row)}")
        if row.cookies_sent:
            lines.append(f"{interval.t:7.3f} ── {row.cookies_sent} SYN cookies sent {_on(row)}")
    return [line[:WIDTH] for line in lines]


def started_lines(started: Started) -> list[str]:
    tracefs = "a private tracefs mount" if started.tracefs == "private" else started.tracefs
    head = f"tracing into instance {started.instance} ({tracefs}, pointers {started.pointers})"
    lines = [f"{head}; Ctrl-C stops"]
    return lines + [f"note: {line}" for line in started.missing]


def _count(counts: dict[str, int], key: str) -> str:
    return str(counts.get(key, 0))


def summary_lines(summary: Summary) -> list[str]:
    """The per-listener table of the whole run, then each namespace's counters, then losses."""
    head = f"{'listener':<22} " + " ".join(f"{title:>8}" for _, title in SUMMARY_COLUMNS)
    lines = [f"summary over {summary.duration_s:.1f} s, {summary.events} events", head]
    for item in summary.listeners:
        ref = item.listener
        name = _fit(f"{ref.netns} :{ref.port}", 22)
        cells = " ".join(f"{_count(item.counts, key):>8}" for key, _ in SUMMARY_COLUMNS)
        lines.append(f"{name:<22} {cells}")
    for row in summary.namespaces:
        syn_time = "?" if row.syn_time_drops is None else str(row.syn_time_drops)
        lines.append(
            f"{_fit(row.netns, 22):<22} overflows {row.counters['TcpExtListenOverflows']} = "
            f"{row.events.get(FINAL_ACK_DROP, 0)} final-ACK + {syn_time} SYN-time; "
            f"synretrans {row.counters['TcpExtTCPSynRetrans']}"
        )
        others = {key: row.events.get(key, 0) for key in (OTHER_DROP, RESET_SENT, RESET_RECEIVED)}
        if any(others.values()):
            lines.append(" " * 23 + ", ".join(f"{key} {value}" for key, value in others.items()))
    lost = summary.lost
    lines.append(f"lost events: {lost.pipe} (trace_pipe), overrun {lost.overrun}, dropped {lost.dropped}")
    return [line[:WIDTH] for line in lines]


# -- JSON lines (schema in docs/trace.md) -------------------------------------------------


def _listener_dict(ref: ListenerRef | None) -> dict[str, Any] | None:
    return None if ref is None else {"netns": ref.netns, "address": ref.address, "port": ref.port}


def _endpoint_dict(end: Endpoint | None) -> dict[str, Any] | None:
    return None if end is None else {"address": end.address, "port": end.port}


def _where(where: Attribution) -> dict[str, Any]:
    listener = _listener_dict(where.listener)
    process = None if where.process is None else {"pid": where.process.pid, "comm": where.process.comm}
    return {"netns": where.netns, "listener": listener, "process": process, "attributed_by": where.by or None}


def event_dict(record: EventRecord) -> dict[str, Any]:
    event = record.event
    return {
        "type": "event",
        "t": round(record.t, 6),
        "kind": event.kind.value,
        **_where(record.where),
        "local": _endpoint_dict(event.local),
        "remote": _endpoint_dict(event.remote),
        "state": event.state,
        "oldstate": event.oldstate,
        "newstate": event.newstate,
        "reason": event.reason,
        "paired_reset": record.paired_reset,
        "skaddr": event.sk,
        "skbaddr": event.skb,
        "cpu": event.cpu,
    }


def _row_dict(row: NetnsInterval) -> dict[str, Any]:
    data: dict[str, Any] = to_jsonable(row)
    data["listener"] = _listener_dict(row.listener)
    return data


def interval_dict(interval: Interval) -> dict[str, Any]:
    rows = [_row_dict(row) for row in interval.namespaces]
    return {"type": "interval", "t": round(interval.t, 6), "namespaces": rows}


def started_dict(started: Started) -> dict[str, Any]:
    return {"type": "start", **to_jsonable(started)}


def lost_dict(cpu: int, count: int) -> dict[str, Any]:
    return {"type": "lost", "cpu": cpu, "events": count}


def summary_dict(summary: Summary) -> dict[str, Any]:
    listeners: Sequence[dict[str, Any]] = [
        {
            "netns": item.listener.netns,
            "address": item.listener.address,
            "port": item.listener.port,
            "processes": [{"pid": o.pid, "comm": o.comm} for o in item.listener.owners],
            "counts": item.counts,
        }
        for item in summary.listeners
    ]
    return {
        "type": "summary",
        "duration_s": round(summary.duration_s, 3),
        "events": summary.events,
        "lost": to_jsonable(summary.lost),
        "namespaces": [_row_dict(row) for row in summary.namespaces],
        "listeners": listeners,
    }
