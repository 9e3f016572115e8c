"""One simulated client connection: the client socket and what the server holds for it."""

from dataclasses import dataclass, field

from tcpq.model.client import ClientSock, Outcome
from tcpq.model.timewait import PortSpace, TwTable


class ClientState:
    """Client socket states the simulator distinguishes (ints: this is the hot path)."""

    NEW = 0
    SYN_SENT = 1
    ESTABLISHED = 2
    FIN_WAIT = 3  # the client closed first (active close)
    CLOSED = 4


class ServerState:
    NONE = 0  # nothing on the server (SYN dropped, cookie sent, request expired or reset)
    REQUEST = 1  # a request sock in the SYN queue
    QUEUED = 2  # a child in the accept queue
    ACCEPTED = 3  # the application holds it
    CLOSED = 4  # the application closed it


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
    state: int = ClientState.NEW
    srv: int = ServerState.NONE
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
    waiting_worker: bool = False
