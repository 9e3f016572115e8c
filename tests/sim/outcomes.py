"""Client outcomes checked against sources independent of the run's tally (RunStats.outcomes):
each simulated connection's own final state, and the client namespace's kernel counters.

The reported counts come from a Counter the handlers keep up to date as outcomes replace each
other, and `pending` is what is left of the attempts: their sum equals `attempted` by
construction. Here the connections themselves are recorded as they are created (every `Conn`
anywhere), and counted by where each one ended.
"""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from tcpq.model.client import Outcome
from tcpq.sim.conn import Conn
from tcpq.sim.lifecycle import ClientState

# Where a client socket can be when the run stops, for each outcome its connection reported: a
# failure leaves no socket; a connection that succeeded may since have closed; one still
# pending has not been connect()ed yet, waits for its SYN-ACK, or (request mode) for its reply.
STATES_FOR = {
    Outcome.NO_PORT: {ClientState.CLOSED},
    Outcome.REFUSED: {ClientState.CLOSED},
    Outcome.RESET: {ClientState.CLOSED},
    Outcome.TIMED_OUT: {ClientState.CLOSED},
    Outcome.CONNECTED: {ClientState.ESTABLISHED, ClientState.FIN_WAIT, ClientState.CLOSED},
    Outcome.PENDING: {ClientState.NEW, ClientState.SYN_SENT, ClientState.ESTABLISHED},
}
FIELDS = {
    Outcome.CONNECTED: "connected",
    Outcome.REFUSED: "refused",
    Outcome.RESET: "reset",
    Outcome.TIMED_OUT: "timed_out",
    Outcome.NO_PORT: "no_port",
    Outcome.PENDING: "pending",
}


@contextmanager
def recording_connections() -> Iterator[list[Conn]]:
    """Every Conn created inside the block, in creation order."""
    created: list[Conn] = []
    original = Conn.__init__

    def init(self: Conn, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        created.append(self)

    with mock.patch.object(Conn, "__init__", init):
        yield created


def final_outcome(conn: Conn) -> Outcome:
    return Outcome.PENDING if conn.outcome is None else conn.outcome


def check_outcomes(clients: dict[str, Any], client_counters: dict[str, int], conns: list[Conn]) -> None:
    """The reported client outcomes (the JSON's `clients`) against the connections themselves
    and against the client namespace's counters."""
    # A helper module: pytest does not rewrite its asserts, so each says what it compared.
    assert len(conns) == clients["attempted"], f"{len(conns)} connections, {clients['attempted']} attempted"
    tally = Counter(final_outcome(conn) for conn in conns)
    reported = {name: clients[name] for name in FIELDS.values()}
    own = {name: tally[outcome] for outcome, name in FIELDS.items()}
    assert reported == own, f"reported {reported}, the connections' own {own}"
    for conn in conns:
        outcome = final_outcome(conn)
        assert conn.state in STATES_FOR[outcome], f"connection {conn.id}: {outcome} in state {conn.state}"
        # connect() took a port and sent a SYN exactly when it found one (tcp_connect: a socket).
        no_socket = outcome is Outcome.NO_PORT or conn.state == ClientState.NEW
        assert (conn.sock is None) == no_socket, f"connection {conn.id}: {outcome}, socket {conn.sock}"
    # The model's own counters, kept by other code than the tally (model/client.py).
    opened = sum(1 for conn in conns if conn.sock is not None)
    counters = {name: client_counters.get(name, 0) for name in ("TcpActiveOpens", "TcpEstabResets")}
    assert counters == {"TcpActiveOpens": opened, "TcpEstabResets": clients["reset"]}, (
        f"{counters}: {opened} connect()ed, {clients['reset']} reset"
    )
    fails = client_counters.get("TcpAttemptFails", 0)
    assert clients["refused"] <= fails <= clients["refused"] + clients["timed_out"], f"AttemptFails {fails}"
    # Handshakes (one connect time each) against the connections that completed one: those that
    # connected or were reset once established, those waiting for a reply; a time-out may have
    # happened before the handshake (SYN retries) or after it (data retries).
    completed = tally[Outcome.CONNECTED] + tally[Outcome.RESET]
    completed += sum(1 for conn in conns if conn.outcome is None and conn.state == ClientState.ESTABLISHED)
    handshakes = sum(clients["connect_time_hist"]["counts"])
    assert completed <= handshakes <= completed + tally[Outcome.TIMED_OUT], f"{handshakes} handshakes"
