"""The connection life cycle tables (sim/lifecycle.py) and the handlers' use of them."""

import random

import pytest

from tcpq.model.listener import inet_csk_listen_start
from tcpq.scenario import NetworkSection
from tcpq.sim.conn import Conn, GroupPlan
from tcpq.sim.engine import Engine
from tcpq.sim.lifecycle import (
    CLIENT_TRANSITIONS,
    SERVER_TRANSITIONS,
    ClientEvent,
    ClientState,
    ServerEvent,
    ServerState,
    TransitionError,
    client_next,
    server_next,
)
from tcpq.sim.world import World
from tests.model.helpers import make_ns

C, CE, S, SE = ClientState, ClientEvent, ServerState, ServerEvent


def walk_client(*events: int) -> int:
    state = C.NEW
    for event in events:
        state = client_next(state, event)
    return state


def walk_server(*events: int) -> int:
    state = S.NONE
    for event in events:
        state = server_next(state, event)
    return state


def members(states: type) -> set[int]:
    return {value for name, value in vars(states).items() if name.isupper()}


def test_client_active_close_goes_through_fin_wait_to_closed() -> None:
    assert walk_client(CE.CONNECT, CE.SYNACK) == C.ESTABLISHED
    assert walk_client(CE.CONNECT, CE.SYNACK, CE.CLOSE) == C.FIN_WAIT
    assert walk_client(CE.CONNECT, CE.SYNACK, CE.CLOSE, CE.TW_EXPIRED) == C.CLOSED
    # a full timewait table: the socket just goes (TCPTimeWaitOverflow, kernel-model §8.2)
    assert walk_client(CE.CONNECT, CE.SYNACK, CE.CLOSE, CE.TW_FULL) == C.CLOSED


def test_client_passive_close_leaves_no_timewait_sock() -> None:
    assert walk_client(CE.CONNECT, CE.SYNACK, CE.CLOSE_AFTER_FIN) == C.CLOSED
    with pytest.raises(TransitionError):
        walk_client(CE.CONNECT, CE.SYNACK, CE.CLOSE_AFTER_FIN, CE.TW_EXPIRED)


@pytest.mark.parametrize("event", [CE.RST, CE.RETRIES_EXHAUSTED, CE.CONNECT_TIMEOUT])
def test_a_syn_sent_socket_fails_to_closed(event: int) -> None:
    assert walk_client(CE.CONNECT, event) == C.CLOSED


def test_the_applications_connect_timeout_does_not_apply_once_established() -> None:
    assert walk_client(CE.CONNECT, CE.SYNACK, CE.RST) == C.CLOSED
    assert walk_client(CE.CONNECT, CE.SYNACK, CE.RETRIES_EXHAUSTED) == C.CLOSED  # data retries
    with pytest.raises(TransitionError):
        walk_client(CE.CONNECT, CE.SYNACK, CE.CONNECT_TIMEOUT)


def test_an_orphan_in_fin_wait_is_destroyed_by_rst_or_its_fin_retries() -> None:
    for event in (CE.RST, CE.RETRIES_EXHAUSTED):
        assert walk_client(CE.CONNECT, CE.SYNACK, CE.CLOSE, event) == C.CLOSED


def test_no_port_closes_before_any_syn() -> None:
    assert client_next(C.NEW, CE.NO_PORT) == C.CLOSED
    with pytest.raises(TransitionError):
        client_next(C.SYN_SENT, CE.NO_PORT)


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (C.ESTABLISHED, CE.SYNACK),  # a duplicate SYN-ACK is answered, not a transition
        (C.SYN_SENT, CE.CLOSE),  # close() before the handshake is not modelled
        (C.NEW, CE.SYNACK),
        (C.FIN_WAIT, CE.CONNECT_TIMEOUT),
    ],
)
def test_forbidden_client_transitions_raise(state: int, event: int) -> None:
    with pytest.raises(TransitionError):
        client_next(state, event)


@pytest.mark.parametrize("event", sorted(members(ClientEvent)))
def test_closed_client_socket_is_terminal(event: int) -> None:
    with pytest.raises(TransitionError, match="client connection in state CLOSED"):
        client_next(C.CLOSED, event)


def test_server_handshake_accept_close() -> None:
    assert walk_server(SE.SYN_QUEUED) == S.REQUEST
    assert walk_server(SE.SYN_QUEUED, SE.CHILD) == S.QUEUED
    assert walk_server(SE.SYN_QUEUED, SE.CHILD, SE.ACCEPT, SE.CLOSE) == S.CLOSED


@pytest.mark.parametrize("event", [SE.REQUEST_EXPIRED, SE.ACK_RESET, SE.RST])
def test_a_request_removed_leaves_nothing_so_a_new_syn_starts_again(event: int) -> None:
    assert walk_server(SE.SYN_QUEUED, event) == S.NONE
    assert walk_server(SE.SYN_QUEUED, event, SE.SYN_QUEUED) == S.REQUEST


def test_a_cookie_child_skips_the_syn_queue() -> None:
    assert walk_server(SE.COOKIE_CHILD) == S.QUEUED
    with pytest.raises(TransitionError):
        server_next(S.REQUEST, SE.COOKIE_CHILD)  # an ACK for a request is tcp_check_req's


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (S.REQUEST, SE.ACCEPT),  # accept() takes children only
        (S.QUEUED, SE.CLOSE),  # not accepted: the application cannot close it
        (S.QUEUED, SE.SYN_QUEUED),
        (S.ACCEPTED, SE.ACCEPT),
        (S.NONE, SE.CHILD),  # a child from a request needs the request
    ],
)
def test_forbidden_server_transitions_raise(state: int, event: int) -> None:
    with pytest.raises(TransitionError, match="server connection in state"):
        server_next(state, event)


def test_tables_only_use_known_states_and_events() -> None:
    for table, states, events in (
        (CLIENT_TRANSITIONS, members(ClientState), members(ClientEvent)),
        (SERVER_TRANSITIONS, members(ServerState), members(ServerEvent)),
    ):
        for (state, event), target in table.items():
            assert state in states and event in events and target in states
        assert {event for _, event in table} == events  # every event is used somewhere


def test_the_error_names_state_and_event() -> None:
    with pytest.raises(TransitionError, match="state ESTABLISHED cannot take event SYNACK"):
        client_next(C.ESTABLISHED, CE.SYNACK)


def make_world() -> World:
    engine = Engine()
    server_ns, client_ns = make_ns(), make_ns()
    listener = inet_csk_listen_start(server_ns, 80, 16)
    return World(
        engine,
        server_ns,
        client_ns,
        listener,
        network=NetworkSection(),
        rng=random.Random(1),
    )


def make_conn(world: World) -> Conn:
    plan = GroupPlan(request=False, request_after=0, close_after=None, connect_timeout=None)
    return Conn(id=0, plan=plan, start=0, addr=world.new_address())


def test_handlers_move_through_the_tables() -> None:
    world = make_world()
    conn = make_conn(world)
    world.client.start(conn)  # zero delay: the whole handshake runs inside connect()
    assert (conn.state, conn.srv) == (C.ESTABLISHED, S.QUEUED)
    accepted = world.server.accept()
    assert accepted is conn and conn.srv == S.ACCEPTED


def test_a_handler_asking_for_a_forbidden_transition_raises() -> None:
    world = make_world()
    conn = make_conn(world)
    conn.state = C.ESTABLISHED  # connect() on a connected socket: the table refuses
    with pytest.raises(TransitionError, match="ESTABLISHED cannot take event CONNECT"):
        world.client.start(conn)
