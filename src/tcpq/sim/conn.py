"""One simulated client connection: the client socket and what the server holds for it."""

from dataclasses import dataclass, field

from tcpq.model.client import ClientSock, Outcome
from tcpq.model.timewait import PortSpace, TwTable
from tcpq.sim.lifecycle import ClientState, ServerState


@dataclass(slots=True, eq=False)
class ClientAddress:
    """One client source address: its own ephemeral ports and timewait socks (§8.5)."""

    name: str
    ports: PortSpace
    tw: TwTable = field(default_factory=TwTable)


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """What every client of one [clients] group does (times in µs)."""

    request: bool
    request_after: int
    close_after: int | None
    connect_timeout: int | None


@dataclass(slots=True, eq=False)
class Conn:
    id: int
    plan: GroupPlan
    start: int
    addr: ClientAddress
    state: int = ClientState.NEW  # changed only through lifecycle.client_next
    srv: int = ServerState.NONE  # changed only through lifecycle.server_next
    sock: ClientSock | None = None
    port: int = -1
    outcome: Outcome | None = None
    cookie_issued: int | None = None
    via_cookie: bool = False
    data_unacked: bool = False
    data_at_server: bool = False
    client_fin_at_server: bool = False
    server_fin_at_client: bool = False
    fin_acked: bool = False  # our FIN was ACKed alone (not together with the peer's FIN)
    waiting_worker: bool = False  # a worker has it: waiting for its request or serving it
    server_sock: ClientSock | None = None  # the server's FIN retransmission state, once it closed
    server_fin_acked: bool = False  # the client's ACK of the server's FIN got through
    server_closed_first: bool = False  # the server's close was the active one
    worker_holds: bool = False  # a worker replied and is blocked in read() until the client closes
    reply_sock: ClientSock | None = None  # the server's reply retransmission state, once it replied
    reply_acked: bool = False  # an ACK of the reply got through to the server (or it is given up)
    reply_received: bool = False  # the reply reached the client
