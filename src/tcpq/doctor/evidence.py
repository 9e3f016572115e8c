"""What the rules read from two samples: counter deltas, listeners that dropped, local peers."""

from tcpq.errors import TcpqError
from tcpq.kernel.profiles import profile_for
from tcpq.kernel.versions import parse_version
from tcpq.model.client import syn_resends_us
from tcpq.model.constants import US_PER_S
from tcpq.types import Listener, QueuedSocket, Rates, Snapshot

WILDCARDS = frozenset({"0.0.0.0", "::"})
LOOPBACK_PREFIXES = ("127.", "::1", "::ffff:127.")


def delta(rates: Rates, name: str) -> int:
    return rates.counter_deltas.get(name, 0)


def where(snapshot: Snapshot) -> str:
    return "the host namespace" if snapshot.netns == "self" else f"network namespace {snapshot.netns}"


def endpoint(listener: Listener) -> str:
    address = f"[{listener.address}]" if ":" in listener.address else listener.address
    return f"{address}:{listener.port}"


def owners_text(listener: Listener) -> str:
    if not listener.processes:
        return "an unknown process"
    shown = ", ".join(f"{p.comm} (pid {p.pid})" for p in listener.processes[:3])
    more = len(listener.processes) - 3
    return shown + (f" and {more} more" if more > 0 else "")


def drops_grew(before: Snapshot, after: Snapshot) -> list[tuple[Listener, int]]:
    """Listeners whose sk_drops grew between the samples, with how much."""
    earlier = {(lst.cookie, lst.address, lst.port): lst.drops for lst in before.listeners}
    grown: list[tuple[Listener, int]] = []
    for listener in after.listeners:
        old = earlier.get((listener.cookie, listener.address, listener.port))
        if listener.drops is not None and old is not None and listener.drops > old:
            grown.append((listener, listener.drops - old))
    return grown


def local_addresses(snapshot: Snapshot) -> set[str]:
    """Addresses this namespace owns, as far as its sockets show them."""
    addresses = {lst.address for lst in snapshot.listeners if lst.address not in WILDCARDS}
    addresses.update(sock.local for sock in snapshot.queued)
    return addresses


def local_listener(snapshot: Snapshot, address: str, port: int, local: set[str]) -> Listener | None:
    """The listener of this namespace that `address:port` reaches, if it is one of ours."""
    for listener in snapshot.listeners:
        if listener.port != port:
            continue
        if listener.address == address:
            return listener
        if listener.address in WILDCARDS and (address in local or address.startswith(LOOPBACK_PREFIXES)):
            return listener
    return None


def queued_key(sock: QueuedSocket) -> tuple[str, int, str, int]:
    return (sock.local, sock.local_port, sock.remote, sock.remote_port)


def listener_key(listener: Listener) -> tuple[int, str, int]:
    return (listener.cookie, listener.address, listener.port)


def waiting_in_accept_queue(snapshot: Snapshot, listener: Listener) -> list[QueuedSocket]:
    """Children of this listener not yet accepted (no file) that already hold the client's data:
    the application has not called accept() for them, so it cannot be said not to read them."""
    return [
        sock
        for sock in snapshot.queued
        if not sock.accepted
        and sock.recv_q
        and sock.local_port == listener.port
        and (listener.address in WILDCARDS or sock.local == listener.address)
    ]


def clients_of_local_listeners(snapshot: Snapshot) -> dict[tuple[int, str, int], list[QueuedSocket]]:
    """Client sockets of this namespace with unacknowledged data (Send-Q) towards one of its own
    listeners, per listener: the peer is on this host, so neither it nor the path is to blame."""
    local = local_addresses(snapshot)
    out: dict[tuple[int, str, int], list[QueuedSocket]] = {}
    for sock in snapshot.queued:
        if not sock.send_q:
            continue
        listener = local_listener(snapshot, sock.remote, sock.remote_port, local)
        if listener is not None:
            out.setdefault(listener_key(listener), []).append(sock)
    return out


def syn_retry_times_s(snapshot: Snapshot, retries: int = 3) -> list[float]:
    """When a client with this namespace's kernel and sysctls resends an unanswered SYN, in
    seconds after the first (the model's schedule, kernel-model §5.1: 1, 2, 3 s on 6.5 and
    later with tcp_syn_linear_timeouts, 1, 3, 7 s before). Empty for an unknown release."""
    try:
        profile = profile_for(parse_version(snapshot.kernel_release))
    except TcpqError:
        return []
    return [send / US_PER_S for send in syn_resends_us(snapshot.sysctl, profile)[:retries]]
