"""The life cycle of one simulated connection, as transition tables (after h11's `_state.py`).

Two state machines per connection: the client socket (`Conn.state`) and what the server holds
for it (`Conn.srv`). Each table maps `(state, event)` to the next state; a pair not in a table
is a transition the kernel does not make, and `client_next`/`server_next` raise on it. The
handlers in client_side.py and server_side.py change a state only through these functions;
what a packet or timer *means* in a state (a stale timer, a duplicate SYN) is decided there,
before an event is raised.

States and events are plain ints, not Enums: they are compared and looked up for every packet
(Enum member lookup costs ~100 ns on Python 3.11).
"""

from typing import Final

from tcpq.errors import TransitionError as TransitionError  # re-exported: raised from here


class ClientState:
    """Client socket states the simulator distinguishes."""

    NEW: Final = 0  # not yet connect()ed (the client program has not reached it)
    SYN_SENT: Final = 1  # connect() sent a SYN and waits for the SYN-ACK
    ESTABLISHED: Final = 2  # the handshake completed at the client (it sent the final ACK)
    FIN_WAIT: Final = 3  # the client closed first: FIN_WAIT1/FIN_WAIT2, then a timewait sock
    CLOSED: Final = 4  # no socket: failed, reset, closed, or its timewait sock is gone


class ServerState:
    """What the server namespace holds for a connection."""

    NONE: Final = 0  # nothing on the server (SYN dropped, cookie sent, request expired or reset)
    REQUEST: Final = 1  # a request sock in the SYN queue
    QUEUED: Final = 2  # a child in the accept queue
    ACCEPTED: Final = 3  # the application holds it
    CLOSED: Final = 4  # the application closed it


class ClientEvent:
    """What happens to a client socket."""

    CONNECT: Final = 0  # connect() found a local port and sent the SYN (tcp_connect)
    NO_PORT: Final = 1  # connect() found no free local port (EADDRNOTAVAIL, inet_hash_connect)
    SYNACK: Final = 2  # a SYN-ACK reached a SYN_SENT socket: it sends the final ACK
    RETRIES_EXHAUSTED: Final = 3  # the SYN or data retransmission timer gave up (ETIMEDOUT)
    CONNECT_TIMEOUT: Final = 4  # the application's own connect timeout fired before the SYN-ACK
    RST: Final = 5  # a RST arrived (ECONNREFUSED in SYN_SENT, ECONNRESET when established)
    CLOSE: Final = 6  # the application closed first (active close: FIN sent)
    CLOSE_AFTER_FIN: Final = 7  # the application closed after the server's FIN (LAST_ACK, then gone)
    TW_FULL: Final = 8  # the closing socket found the timewait table full (TCPTimeWaitOverflow)
    TW_EXPIRED: Final = 9  # its timewait sock expired (inet_twsk_expired)


class ServerEvent:
    """What happens to the server side of a connection."""

    SYN_QUEUED: Final = 0  # tcp_conn_request put a request sock in the SYN queue
    REQUEST_EXPIRED: Final = 1  # reqsk_timer_handler gave up on the request (SYN-ACK retries spent)
    ACK_RESET: Final = 2  # tcp_check_req: final ACK, accept queue full, tcp_abort_on_overflow: RST
    RST: Final = 3  # the client's RST removed the request (tcp_check_req_rst)
    CHILD: Final = 4  # tcp_check_req: the final ACK made a child in the accept queue
    COOKIE_CHILD: Final = 5  # tcp_v4_cookie_check: a valid cookie ACK made a child in the accept queue
    ACCEPT: Final = 6  # the application's accept() took the child
    CLOSE: Final = 7  # the application closed it


_C, _CE = ClientState, ClientEvent
CLIENT_TRANSITIONS: dict[tuple[int, int], int] = {
    (_C.NEW, _CE.CONNECT): _C.SYN_SENT,
    (_C.NEW, _CE.NO_PORT): _C.CLOSED,
    (_C.SYN_SENT, _CE.SYNACK): _C.ESTABLISHED,
    (_C.SYN_SENT, _CE.RETRIES_EXHAUSTED): _C.CLOSED,
    (_C.SYN_SENT, _CE.CONNECT_TIMEOUT): _C.CLOSED,
    (_C.SYN_SENT, _CE.RST): _C.CLOSED,
    (_C.ESTABLISHED, _CE.RETRIES_EXHAUSTED): _C.CLOSED,
    (_C.ESTABLISHED, _CE.RST): _C.CLOSED,
    (_C.ESTABLISHED, _CE.CLOSE): _C.FIN_WAIT,
    (_C.ESTABLISHED, _CE.CLOSE_AFTER_FIN): _C.CLOSED,
    (_C.FIN_WAIT, _CE.TW_FULL): _C.CLOSED,
    (_C.FIN_WAIT, _CE.RETRIES_EXHAUSTED): _C.CLOSED,  # the orphan's FIN was never acknowledged
    (_C.FIN_WAIT, _CE.RST): _C.CLOSED,
    (_C.FIN_WAIT, _CE.TW_EXPIRED): _C.CLOSED,
}

_S, _SE = ServerState, ServerEvent
SERVER_TRANSITIONS: dict[tuple[int, int], int] = {
    (_S.NONE, _SE.SYN_QUEUED): _S.REQUEST,
    (_S.REQUEST, _SE.REQUEST_EXPIRED): _S.NONE,
    (_S.REQUEST, _SE.ACK_RESET): _S.NONE,
    (_S.REQUEST, _SE.RST): _S.NONE,
    (_S.REQUEST, _SE.CHILD): _S.QUEUED,
    (_S.NONE, _SE.COOKIE_CHILD): _S.QUEUED,
    # A late ACK after the application closed finds no socket in the model and reaches the
    # listener, which may take a still fresh cookie again (the model keeps no closed 4-tuple).
    (_S.CLOSED, _SE.COOKIE_CHILD): _S.QUEUED,
    (_S.QUEUED, _SE.ACCEPT): _S.ACCEPTED,
    (_S.ACCEPTED, _SE.CLOSE): _S.CLOSED,
}
del _C, _CE, _S, _SE


def _names(states: type) -> dict[int, str]:
    return {value: name for name, value in vars(states).items() if isinstance(value, int)}


_NAMES = {
    "client": (_names(ClientState), _names(ClientEvent)),
    "server": (_names(ServerState), _names(ServerEvent)),
}


def _refuse(side: str, state: int, event: int) -> TransitionError:
    states, events = _NAMES[side]
    return TransitionError(
        f"{side} connection in state {states.get(state, state)} cannot take event {events.get(event, event)}"
    )


def client_next(state: int, event: int) -> int:
    """The client socket's state after `event`; TransitionError if the table has no such move."""
    try:
        return CLIENT_TRANSITIONS[state, event]
    except KeyError:
        raise _refuse("client", state, event) from None


def server_next(state: int, event: int) -> int:
    """The server side's state after `event`; TransitionError if the table has no such move."""
    try:
        return SERVER_TRANSITIONS[state, event]
    except KeyError:
        raise _refuse("server", state, event) from None
