"""Lines of an instance's trace_pipe → typed events. Pure: text in, data out.

The text pipe is read rather than the binary per-CPU pipes, by measurement on 6.18
(docs/trace.md): the binary records (and the `fields` option) carry raw kernel pointers, which
cannot be matched with /proc/net/tcp's pointer column when kptr_restrict=0, whereas %p in the
text is hashed exactly as /proc/net/tcp hashes it. Parsing the text costs ≈6 µs a line
(measured on the lines of tests/trace/test_events.py): 6 % of a CPU at 10k events/s.
"""

import re
from enum import StrEnum

from tcpq.errors import ParseError
from tcpq.records import frozen

# "<idle>-0       [001] ..s2.   345.858495: tcp_retransmit_skb: skbaddr=... state=TCP_SYN_SENT err=0"
# The task name may hold anything, so the line is anchored on the CPU column and the timestamp.
_LINE = re.compile(r"\[(\d+)\]\s+(?:\S+\s+)?(\d+\.\d+): (\w+): (.*)$")
_LOST = re.compile(r"^CPU:(\d+) \[LOST (\d+) EVENTS\]")
_NULL_POINTERS = frozenset({"0000000000000000", "00000000", "(null)", "0x0", "0"})


class Kind(StrEnum):
    STATE = "state"
    SYN_RETRANSMIT = "syn-retransmit"
    SYNACK_RETRANSMIT = "synack-retransmit"
    DROP = "drop"
    RESET_SENT = "reset-sent"
    RESET_RECEIVED = "reset-received"


KIND_OF_EVENT = {
    "inet_sock_set_state": Kind.STATE,
    "tcp_retransmit_skb": Kind.SYN_RETRANSMIT,
    "tcp_retransmit_synack": Kind.SYNACK_RETRANSMIT,
    "kfree_skb": Kind.DROP,
    "tcp_send_reset": Kind.RESET_SENT,
    "tcp_receive_reset": Kind.RESET_RECEIVED,
}


@frozen(slots=True)
class Endpoint:
    address: str
    port: int

    def __str__(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


@frozen(slots=True)
class TraceEvent:
    """One tracepoint hit. `local` is the side of the socket the event is about (the listener's
    address for a SYN-ACK retransmission, the sender's for a reset); `sk`/`skb` are the hashed
    pointers the kernel printed (None when the format hides them or they are NULL); `state`
    names are the kernel's without the TCP_ prefix; `ts` is the instance's clock (mono)."""

    ts: float
    cpu: int
    kind: Kind
    local: Endpoint | None
    remote: Endpoint | None
    sk: str | None = None
    skb: str | None = None
    state: str | None = None
    oldstate: str | None = None
    newstate: str | None = None
    reason: str | None = None


@frozen(slots=True)
class Lost:
    """trace_pipe's own "CPU:N [LOST M EVENTS]": the buffer overwrote events before we read them."""

    cpu: int
    count: int


def _fields(body: str) -> dict[str, str]:
    # kfree_skb alone says "reason: NAME"; every other value is "key=value" without spaces.
    body = body.replace(" reason: ", " reason=")
    out: dict[str, str] = {}
    for token in body.split():
        key, sep, value = token.partition("=")
        if sep:
            out[key] = value
    return out


def _pointer(value: str | None) -> str | None:
    return None if value is None or value in _NULL_POINTERS else value


def _state(value: str | None) -> str | None:
    return None if value is None else value.removeprefix("TCP_")


def _port(value: str | None) -> int:
    if value is None or not value.isdigit():
        return 0
    return int(value)


def _tuple(values: dict[str, str]) -> tuple[Endpoint | None, Endpoint | None]:
    """saddr/sport, daddr/dport, the IPv6 pair for AF_INET6."""
    v6 = values.get("family") == "AF_INET6"
    source = values.get("saddrv6" if v6 else "saddr")
    dest = values.get("daddrv6" if v6 else "daddr")
    local = Endpoint(source, _port(values.get("sport"))) if source is not None else None
    remote = Endpoint(dest, _port(values.get("dport"))) if dest is not None else None
    return local, remote


def parse_sockaddr(text: str | None) -> Endpoint | None:
    """%pISpc: "127.0.0.1:8080" or "[::1]:8080"; "0.0.0.0:0" (no peer) → None."""
    if not text:
        return None
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit():
        return None
    if int(port) == 0 and host in ("0.0.0.0", "::"):
        return None
    return Endpoint(host, int(port))


def _typed(ts: float, cpu: int, name: str, values: dict[str, str]) -> TraceEvent | None:
    kind = KIND_OF_EVENT.get(name)
    if kind is None:
        return None
    # The tracepoints' formats differ in where the endpoints and the socket are; every other
    # field is read by one name, and a field a format lacks reads as None.
    if kind is Kind.DROP:  # kfree_skb: no addresses; the socket is the receiving one
        local, remote, sk = None, None, values.get("rx_sk")
    elif kind is Kind.RESET_SENT:  # tcp_send_reset prints both ends as %pISpc
        local, remote = parse_sockaddr(values.get("src")), parse_sockaddr(values.get("dest"))
        sk = values.get("skaddr")
    else:
        (local, remote), sk = _tuple(values), values.get("skaddr")
    return TraceEvent(
        ts,
        cpu,
        kind,
        local,
        remote,
        _pointer(sk),
        _pointer(values.get("skbaddr")),
        state=_state(values.get("state")),
        oldstate=_state(values.get("oldstate")),
        newstate=_state(values.get("newstate")),
        reason=values.get("reason"),
    )


def parse_line(line: str) -> TraceEvent | Lost | None:
    """One trace_pipe line; None for an event tcpq does not handle. Raises ParseError for a line
    that is neither an event nor a lost-events notice."""
    lost = _LOST.match(line)
    if lost is not None:
        return Lost(int(lost.group(1)), int(lost.group(2)))
    match = _LINE.search(line)
    if match is None:
        raise ParseError(f"trace_pipe: unreadable line {line[:120]!r}")
    cpu, ts, name, body = match.groups()
    return _typed(float(ts), int(cpu), name, _fields(body))
