"""What the trace loop counts: per namespace and interval, per listener over the run. Pure.

The derived line is the one thing tracepoints cannot show: a SYN dropped because the accept
queue is full is freed with consume_skb, with no reason and no address, so per namespace
`SYN-time drops = ΔListenOverflows − count(kfree_skb reason TCP_LISTEN_OVERFLOW)`
(tracefs-notes.md; the kernel sets that reason only for the final ACK).
"""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from tcpq.records import frozen
from tcpq.trace.attribute import Attribution, ListenerRef
from tcpq.trace.events import Kind, TraceEvent

COUNTERS = (
    "TcpExtListenOverflows",
    "TcpExtListenDrops",
    "TcpExtTCPReqQFullDrop",
    "TcpExtTCPReqQFullDoCookies",
    "TcpExtSyncookiesSent",
    "TcpExtSyncookiesRecv",
    "TcpExtSyncookiesFailed",
    "TcpExtTCPSynRetrans",
)
OVERFLOWS = "TcpExtListenOverflows"
COOKIES_SENT = "TcpExtSyncookiesSent"
LISTEN_OVERFLOW = "TCP_LISTEN_OVERFLOW"

# Count keys (JSON `events` objects use them as they are).
SYN_RETRANSMIT = "syn_retransmits"  # tcp_retransmit_skb in SYN_SENT: a client's SYN again
OTHER_RETRANSMIT = "syn_recv_retransmits"
SYNACK_RETRANSMIT = "synack_retransmits"
FINAL_ACK_DROP = "final_ack_drops"  # kfree_skb reason TCP_LISTEN_OVERFLOW
OTHER_DROP = "other_drops"
RESET_SENT = "resets_sent"
PAIRED_RESET = "resets_for_overflow"  # a final-ACK drop answered by a reset (abort_on_overflow=1)
RESET_RECEIVED = "resets_received"
ESTABLISHED = "established"  # a child reached ESTABLISHED: the final ACK made it to the queue
SYN_TIME_DROP = "syn_time_drops"


def count_key(event: TraceEvent) -> str | None:
    """The tally an event adds to, or None for one that only shows (other state changes)."""
    if event.kind is Kind.SYN_RETRANSMIT:
        return SYN_RETRANSMIT if event.state == "SYN_SENT" else OTHER_RETRANSMIT
    if event.kind is Kind.SYNACK_RETRANSMIT:
        return SYNACK_RETRANSMIT
    if event.kind is Kind.DROP:
        return FINAL_ACK_DROP if event.reason == LISTEN_OVERFLOW else OTHER_DROP
    if event.kind is Kind.RESET_SENT:
        return RESET_SENT
    if event.kind is Kind.RESET_RECEIVED:
        return RESET_RECEIVED
    if event.oldstate == "SYN_RECV" and event.newstate == "ESTABLISHED":
        return ESTABLISHED
    return None


def deltas(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """The watched counters' increase; one that went backwards (namespace re-created) is 0."""
    return {name: max(0, after.get(name, 0) - before.get(name, 0)) for name in COUNTERS}


@frozen
class NetnsInterval:
    """One namespace over one interval (or the whole run): counter deltas beside event counts.

    `syn_time_drops` is None where the kernel cannot tell the final ACK's drops apart (no
    TCP_LISTEN_OVERFLOW reason); `listener` is the one listener the derived figures belong to,
    when exactly one had events there."""

    netns: str
    counters: dict[str, int]
    events: dict[str, int]
    syn_time_drops: int | None
    cookies_sent: int
    listener: ListenerRef | None


@dataclass
class NetnsTally:
    """Accumulates one namespace's events; `close()` turns them and the counters into a row."""

    netns: str
    events: Counter[str] = field(default_factory=Counter)
    listeners: dict[tuple[str, str, int], ListenerRef] = field(default_factory=dict)

    def add(self, key: str, where: Attribution) -> None:
        self.events[key] += 1
        if where.listener is not None:
            ref = where.listener
            self.listeners[(ref.netns, ref.address, ref.port)] = ref

    def close(self, counter_deltas: dict[str, int], reasons_known: bool) -> NetnsInterval:
        final_ack = self.events[FINAL_ACK_DROP]
        syn_time = counter_deltas[OVERFLOWS] - final_ack if reasons_known else None
        only = next(iter(self.listeners.values())) if len(self.listeners) == 1 else None
        return NetnsInterval(
            self.netns,
            counter_deltas,
            dict(sorted(self.events.items())),
            syn_time,
            counter_deltas[COOKIES_SENT],
            only,
        )


@frozen
class ListenerSummary:
    listener: ListenerRef
    counts: dict[str, int]


@dataclass
class ListenerTally:
    """Per listener over the whole run (the `--summary` table)."""

    rows: dict[tuple[str, str, int], tuple[ListenerRef, Counter[str]]] = field(default_factory=dict)

    def add(self, key: str, where: Attribution) -> None:
        if where.listener is None:
            return
        ref = where.listener
        index = (ref.netns, ref.address, ref.port)
        _, counts = self.rows.setdefault(index, (ref, Counter()))
        self.rows[index] = (ref, counts)
        counts[key] += 1

    def add_syn_time(self, row: NetnsInterval) -> None:
        if row.listener is not None and row.syn_time_drops:
            ref = row.listener
            index = (ref.netns, ref.address, ref.port)
            _, counts = self.rows.setdefault(index, (ref, Counter()))
            counts[SYN_TIME_DROP] += row.syn_time_drops

    def summaries(self) -> list[ListenerSummary]:
        return [
            ListenerSummary(ref, dict(sorted(counts.items())))
            for _, (ref, counts) in sorted(self.rows.items(), key=lambda item: item[0])
        ]
