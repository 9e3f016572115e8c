"""What to enable and with which kernel-side filters, decided from the running kernel's formats.

Pure. Filters take numbers only (`reason == 40`), so names are turned into numbers through each
event's own __print_symbolic map; what the kernel lacks is decided from the same files (a field
or a name that is not there), not from the version string.
"""

from collections.abc import Iterable, Mapping

from tcpq.records import frozen
from tcpq.trace.formats import EventFormat

EVENTS: tuple[tuple[str, str], ...] = (
    ("sock", "inet_sock_set_state"),
    ("tcp", "tcp_retransmit_synack"),
    ("tcp", "tcp_retransmit_skb"),
    ("skb", "kfree_skb"),
    ("tcp", "tcp_send_reset"),
    ("tcp", "tcp_receive_reset"),
)
IPPROTO_TCP_NAME = "IPPROTO_TCP"
IPPROTO_TCP = 6  # include/uapi/linux/in.h: used when the protocol map is missing
LISTEN_OVERFLOW = "TCP_LISTEN_OVERFLOW"  # include/net/dropreason-core.h, since 6.15
# tcp_retransmit_skb fires for every retransmitted segment; connection establishment is the
# SYN (client, SYN_SENT) and, for a fast-open or simultaneous open, SYN_RECV.
RETRANSMIT_STATES = ("TCP_SYN_SENT", "TCP_SYN_RECV")
# State changes of connection establishment: a transition from or to one of these (CLOSE→
# SYN_SENT, SYN_SENT→ESTABLISHED or CLOSE, LISTEN→SYN_RECV, SYN_RECV→ESTABLISHED, a listener
# opened or closed). Teardown (ESTABLISHED→FIN_WAIT1→FIN_WAIT2→CLOSE, ESTABLISHED→CLOSE_WAIT→
# LAST_ACK→CLOSE) stays in the kernel: measured on connections accepted and closed at once,
# 6 of each one's 10 state events, each of a socket often gone before a table re-read.
ESTABLISHMENT_STATES = ("TCP_SYN_SENT", "TCP_SYN_RECV", "TCP_NEW_SYN_RECV", "TCP_LISTEN")
# Generic drop reasons that are TCP's as often as anyone's are left out: NO_SOCKET alone would
# report every UDP packet to a closed port.
TCP_REASON_PREFIX = "TCP_"


@frozen
class Plan:
    """Events to enable (system/name → filter, "" for none) and the kernel's gaps, one line each."""

    filters: dict[str, str]
    missing: list[str]
    listen_overflow_reason: int | None
    has_rx_sk: bool


def _ranges(numbers: Iterable[int]) -> list[tuple[int, int]]:
    ordered = sorted(set(numbers))
    spans: list[tuple[int, int]] = []
    for number in ordered:
        if spans and number == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], number)
        else:
            spans.append((number, number))
    return spans


def numbers_filter(field: str, numbers: Iterable[int]) -> str:
    """`reason == 40 || (reason >= 45 && reason <= 53)`: consecutive numbers folded into ranges,
    so the filter stays short on a kernel with a hundred reasons."""
    parts = [
        f"{field} == {low}" if low == high else f"({field} >= {low} && {field} <= {high})"
        for low, high in _ranges(numbers)
    ]
    return " || ".join(parts)


def _and(*clauses: str) -> str:
    present = [clause for clause in clauses if clause]
    if len(present) == 1:
        return present[0]
    return " && ".join(f"({clause})" for clause in present)


def _port_clause(event: EventFormat, port: int | None) -> str:
    if port is None or not (event.has("sport") and event.has("dport")):
        return ""
    return f"sport == {port} || dport == {port}"


def _states_clause(event: EventFormat) -> str:
    """`oldstate` or `newstate` one of ESTABLISHMENT_STATES, by the format's own numbers."""
    clauses = []
    for name in ("oldstate", "newstate"):
        numbers = [n for state in ESTABLISHMENT_STATES if (n := event.number(name, state)) is not None]
        if event.has(name) and numbers:
            clauses.append(numbers_filter(name, numbers))
    return " || ".join(clauses) if len(clauses) == 2 else ""  # one side only would miss events


def _set_state_filter(event: EventFormat, port: int | None) -> str:
    tcp = event.number("protocol", IPPROTO_TCP_NAME) if event.has("protocol") else None
    protocol = f"protocol == {tcp if tcp is not None else IPPROTO_TCP}" if event.has("protocol") else ""
    return _and(protocol, _states_clause(event), _port_clause(event, port))


def _retransmit_filter(event: EventFormat, port: int | None) -> str:
    states = [n for name in RETRANSMIT_STATES if (n := event.number("state", name)) is not None]
    state = numbers_filter("state", states) if event.has("state") and states else ""
    return _and(state, _port_clause(event, port))


def tcp_reasons(event: EventFormat) -> dict[int, str]:
    reasons = event.symbols.get("reason", {})
    return {number: name for number, name in reasons.items() if name.startswith(TCP_REASON_PREFIX)}


def make_plan(formats: Mapping[str, EventFormat], port: int | None) -> Plan:
    """Filters for every event the kernel has, and one line per thing it lacks."""
    filters: dict[str, str] = {}
    missing: list[str] = []
    for system, name in EVENTS:
        event = formats.get(name)
        if event is None:
            missing.append(f"no {system}:{name} tracepoint on this kernel: its events are not shown")
            continue
        key = f"{system}/{name}"
        if name == "inet_sock_set_state":
            filters[key] = _set_state_filter(event, port)
        elif name == "tcp_retransmit_skb":
            filters[key] = _retransmit_filter(event, port)
        elif name == "kfree_skb":
            if not event.has("reason"):
                missing.append("kfree_skb has no drop reason (added in 5.17): drops are not traced")
                continue
            filters[key] = numbers_filter("reason", tcp_reasons(event))
        else:
            filters[key] = _port_clause(event, port)
    kfree = formats.get("kfree_skb")
    overflow = kfree.number("reason", LISTEN_OVERFLOW) if kfree is not None else None
    has_rx_sk = kfree is not None and kfree.has("rx_sk")
    if kfree is not None and kfree.has("reason"):
        if overflow is None:
            missing.append(
                "no TCP_LISTEN_OVERFLOW drop reason (added in 6.15): final-ACK overflows are not told "
                "from SYN-time drops"
            )
        if not has_rx_sk:
            missing.append("kfree_skb has no rx_sk (added in 6.11): drops are not tied to a listener")
    return Plan(filters, missing, overflow, has_rx_sk)
