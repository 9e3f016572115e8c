"""The client namespace: each method is a packet or timer reaching a client socket.

It asks the pure model (model/client.py, model/timewait.py) what the kernel does and turns the
decision into packets to the server side and timers; the socket's state moves only through
lifecycle.client_next.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from tcpq.model import client as mclient
from tcpq.model import mib, timewait
from tcpq.model.client import Outcome, tcp_retransmit_syn
from tcpq.model.netns import Netns
from tcpq.sim.conn import Conn
from tcpq.sim.engine import Engine
from tcpq.sim.lifecycle import ClientEvent, ClientState, client_next
from tcpq.sim.link import Handler, Link
from tcpq.sim.side import Side
from tcpq.sim.stats import RunStats

if TYPE_CHECKING:
    from tcpq.sim.server_side import ServerSide

# Handlers run for every packet: the states and events they use are module constants, and
# the methods they call on the link, the stats and the server side are bound once (in Side,
# below and in `attach`), which saves an attribute lookup and a bound-method allocation per call.
_SYN_SENT: Final = ClientState.SYN_SENT
_ESTABLISHED: Final = ClientState.ESTABLISHED
_FIN_WAIT: Final = ClientState.FIN_WAIT
_CLOSED: Final = ClientState.CLOSED
_CONNECT: Final = ClientEvent.CONNECT
_SYNACK: Final = ClientEvent.SYNACK
_CLOSE: Final = ClientEvent.CLOSE
_RETRIES_EXHAUSTED: Final = ClientEvent.RETRIES_EXHAUSTED
_RST: Final = ClientEvent.RST
_TW_FULL: Final = ClientEvent.TW_FULL
_TW_EXPIRED: Final = ClientEvent.TW_EXPIRED


class ClientSide(Side):
    # The server side's handlers, bound by `attach` (the two sides send to each other).
    _server_syn: Handler
    _server_bare_ack: Handler
    _server_data: Handler
    _server_rst: Handler
    _server_fin: Handler
    _server_reply_ack: Handler
    _server_reply_answer: Handler

    def __init__(self, engine: Engine, client_ns: Netns, link: Link, stats: RunStats) -> None:
        super().__init__(engine, client_ns, link, stats)
        self.client_ns = client_ns
        # The client program makes one call (connect(), send()) at a time, `connect_gap_us`
        # apart at the most (model/timing.py): when it can make its next one.
        self.program_free_at = 0
        self.program_busy_until = 0  # when its queue of connect() calls will be done (at least)
        self.call_gap = 0
        # A call after the program was idle `cold_after` µs or longer (and its first) takes
        # `cold_call` µs longer (model/timing.py): the first connect() of a burst.
        self.cold_call = 0
        self.cold_after = 0
        self.program_ran = False
        # An event-loop client (the lab's generator, ab, curl -Z) makes every connect() call
        # that is due before it looks at its sockets again: a request due meanwhile waits.
        self.connects_queued = False
        self.requests_waiting: list[Conn] = []
        # How late the program's own timer (its connect timeout) fires: a draw (runner.py).
        self.timer_late: Callable[[], int] = lambda: 0
        self._synack_cost = link.costs.synack
        self._resolve = stats.resolve
        self._connect_times = stats.connect_times
        self._syn_timer = self.syn_timer
        self._data_timer = self.data_timer
        self._close = self.close

    def attach(self, server: "ServerSide") -> None:
        """Bind the server side's handlers: where this side's packets arrive."""
        self._server_syn = server.syn
        self._server_bare_ack = server.bare_ack
        self._server_data = server.data
        self._server_rst = server.rst
        self._server_fin = server.fin
        self._server_reply_ack = server.reply_ack
        self._server_reply_answer = server.reply_answer

    def _release_port(self, conn: Conn) -> None:
        conn.addr.ports.live.discard(conn.port)

    def _fail(self, conn: Conn, event: int, outcome: Outcome) -> None:
        conn.state = client_next(conn.state, event)
        self._resolve(conn, outcome)
        self._release_port(conn)

    def start(self, conn: Conn) -> None:
        """connect(): take a local port, send the SYN, arm the SYN timer."""
        now = self.engine.now
        port = timewait.inet_hash_connect(self.client_ns, conn.addr.ports, conn.addr.tw, now)
        if port is None:
            conn.state = client_next(conn.state, ClientEvent.NO_PORT)
            self._resolve(conn, Outcome.NO_PORT)
            return
        conn.port = port
        conn.state = client_next(conn.state, _CONNECT)
        sock = conn.sock = mclient.tcp_connect(self.client_ns, conn.id, now)
        self._timer(now + sock.rto_us, self._syn_timer, conn)
        if conn.plan.connect_timeout is not None:
            self.engine.after(conn.plan.connect_timeout + self.timer_late(), self.app_timeout, conn)
        self._send(self._server_syn, conn)

    def syn_timer(self, conn: Conn) -> None:
        # The simulator's hottest handler (every SYN retransmission of every blocked client).
        if conn.state != _SYN_SENT:
            return
        assert conn.sock is not None
        now = self.engine.now
        nxt = tcp_retransmit_syn(self.client_ns, conn.sock, now)
        if nxt is None:
            self._fail(conn, _RETRIES_EXHAUSTED, Outcome.TIMED_OUT)
            return
        self._timer(nxt, self._syn_timer, conn)
        self._send_from_timer(self._server_syn, conn)

    def app_timeout(self, conn: Conn) -> None:
        if conn.state == _SYN_SENT:
            self._fail(conn, ClientEvent.CONNECT_TIMEOUT, Outcome.TIMED_OUT)

    def synack(self, conn: Conn) -> int:
        """A SYN-ACK at the client; returns its softirq cost."""
        now = self.engine.now
        state = conn.state
        if state == _SYN_SENT:
            conn.state = client_next(state, _SYNACK)
            self._connect_times.append(now - conn.start)
            plan = conn.plan
            if plan.request:
                # The program sends the request (process context, paced like its connect()s),
                # not the softirq that delivered this SYN-ACK.
                self.engine.after(plan.request_after, self.request_due, conn)
            else:
                self._resolve(conn, Outcome.CONNECTED)
                if plan.close_after is not None:
                    self.engine.after(plan.close_after, self._close, conn)
            self._send(self._server_bare_ack, conn)
        elif state == _ESTABLISHED or (state == _FIN_WAIT and conn.port not in conn.addr.tw.entries):
            # A synchronized full socket (ESTABLISHED, FIN_WAIT1/2): tcp_validate_incoming()
            # answers a SYN with a challenge ACK. (A timewait sock's answer is not modelled.)
            assert conn.sock is not None
            if mclient.tcp_syn_challenge(self.client_ns, conn.sock, now):
                self._send(self._server_bare_ack, conn)
        elif state == _CLOSED:
            self.client_ns.counters[mib.OUT_RSTS] += 1  # no socket: the client kernel resets
            self._send(self._server_rst, conn)
        return self._synack_cost

    def program_call(self) -> int:
        """When the client program really makes a call it wants to make now."""
        start = max(self.engine.now, self.program_free_at)
        self.end_call(start, self.call_gap)
        return start

    def end_call(self, start: int, cost: int) -> None:
        """The program makes a call at `start` that takes `cost` µs, longer when it comes after
        the program was idle (cold: the first call of a burst); it is free again after it."""
        if self.cold_call and (not self.program_ran or start - self.program_free_at >= self.cold_after):
            cost += self.cold_call
        self.program_ran = True
        self.program_free_at = start + cost

    def request_due(self, conn: Conn) -> None:
        """The program wants to send the request: it does so at its next free call, after the
        connect() calls already due (it learns of the connection only when it polls again)."""
        if self.connects_queued:
            self.requests_waiting.append(conn)
            return
        self.engine.at(self.program_call(), self.send_request, conn)

    def connects_done(self) -> None:
        """The program has made every connect() call that was due: the requests that became
        due meanwhile go out, one call each."""
        self.connects_queued = False
        waiting, self.requests_waiting = self.requests_waiting, []
        for conn in waiting:
            self.request_due(conn)

    def send_request(self, conn: Conn) -> None:
        if conn.state != _ESTABLISHED:
            return
        assert conn.sock is not None
        conn.data_unacked = True
        self._arm_rto(conn.sock, self._data_timer, conn)
        self._send(self._server_data, conn)

    def data_timer(self, conn: Conn) -> None:
        if conn.state != _ESTABLISHED or not conn.data_unacked:
            return
        assert conn.sock is not None
        if not self._rearm_data(conn.sock, self._data_timer, conn):
            self._fail(conn, _RETRIES_EXHAUSTED, Outcome.TIMED_OUT)
            return
        self._send_from_timer(self._server_data, conn)

    def data_acked(self, conn: Conn) -> None:
        conn.data_unacked = False

    def reply(self, conn: Conn) -> None:
        """The server's reply: acknowledged at once with a bare ACK (quick-ack mode at the
        start of a connection, tcp_event_data_recv())."""
        if conn.state != _ESTABLISHED:
            return
        now = self.engine.now
        conn.reply_received = True
        self._send(self._server_reply_ack, conn)
        conn.data_unacked = False
        self._resolve(conn, Outcome.CONNECTED)
        self.stats.response_times.append(now - conn.start)
        if conn.plan.close_after is not None:
            self.engine.after(conn.plan.close_after, self._close, conn)

    def reply_again(self, conn: Conn) -> None:
        """A retransmission of the server's reply (its first copy, or our ACK of it, lost or
        filtered). The first copy to arrive is the reply; a full socket that has it answers the
        duplicate with a D-SACK block (tcp_send_dupack(), not a bare ACK); a timewait sock with
        a bare ACK (tcp_timewait_state_process()); no socket with a reset."""
        if conn.state == _ESTABLISHED and not conn.reply_received:
            self.reply(conn)
        elif conn.state == _CLOSED:
            self.client_ns.counters[mib.OUT_RSTS] += 1
            self._send(self._server_reply_answer, conn)
        elif conn.state == _FIN_WAIT and conn.port in conn.addr.tw.entries:
            self._send(self._server_reply_ack, conn)
        else:
            self._send(self._server_reply_answer, conn)

    def rst(self, conn: Conn) -> None:
        if conn.state == _SYN_SENT:
            self._fail(conn, _RST, mclient.tcp_rcv_synsent_rst(self.client_ns))
        elif conn.state == _ESTABLISHED:
            self._fail(conn, _RST, mclient.tcp_reset_established(self.client_ns))
        elif conn.state == _FIN_WAIT and conn.port not in conn.addr.tw.entries:
            conn.state = client_next(conn.state, _RST)  # tcp_reset(): the orphan is destroyed
            self._release_port(conn)

    def close(self, conn: Conn) -> None:
        if conn.state != _ESTABLISHED:
            return
        if conn.server_fin_at_client:
            # passive close: LAST_ACK, then gone
            conn.state = client_next(conn.state, ClientEvent.CLOSE_AFTER_FIN)
            self._release_port(conn)
            self._send_reliably(self._server_fin, conn)
            return
        conn.state = client_next(conn.state, _CLOSE)
        assert conn.sock is not None
        self._arm_fin(conn.sock, conn)
        self._send_reliably(self._server_fin, conn)

    def fin_timer(self, conn: Conn) -> None:
        """Our FIN is not acknowledged after an RTO: the server dropped it (a full accept queue
        at a request sock or cookie, a filter); retransmit it, or destroy the orphan."""
        if conn.state != _FIN_WAIT or conn.fin_acked or conn.server_fin_at_client:
            return
        if conn.port in conn.addr.tw.entries:
            return
        assert conn.sock is not None
        if not self._rearm_fin(conn.sock, conn):
            conn.state = client_next(conn.state, _RETRIES_EXHAUSTED)
            self._release_port(conn)
            return
        self._send_from_timer(self._server_fin, conn)

    def fin_acked(self, conn: Conn) -> None:
        """A bare ACK of our FIN: orphaned FIN_WAIT2 becomes a timewait sock (kernel-model §8.4)."""
        if conn.state != _FIN_WAIT or conn.port in conn.addr.tw.entries:
            return
        conn.fin_acked = True
        self._time_wait(conn, timewait.TwSubstate.FIN_WAIT2)

    def fin(self, conn: Conn) -> None:
        """The server's FIN reaches the client."""
        conn.server_fin_at_client = True
        if conn.state == _FIN_WAIT:
            if not self._timewait_fin(conn.addr.tw, conn.port, conn) and not conn.fin_acked:
                self._fin_wait1_to_time_wait(conn)
        elif conn.state == _CLOSED:
            self.client_ns.counters[mib.OUT_RSTS] += 1  # TW overflowed: nothing matches the FIN

    def fin_again(self, conn: Conn) -> None:
        """A retransmission of the server's FIN: acknowledged again (a timewait sock restarts
        its timer); a socket already gone is not modelled to answer it."""
        if conn.state == _FIN_WAIT:
            self.fin(conn)

    def _fin_wait1_to_time_wait(self, conn: Conn) -> None:
        """FIN and ACK together (the peer's FIN rode on its delayed ACK): straight to TIME_WAIT.

        On a full table the socket just goes (TCPTimeWaitOverflow); the FIN was already ACKed,
        so nothing is answered with RST later (kernel-model §8.2).
        """
        self._time_wait(conn, timewait.TwSubstate.TIME_WAIT)

    def _time_wait(self, conn: Conn, substate: timewait.TwSubstate) -> None:
        """The closing client socket becomes a timewait sock, or just goes when the table is full."""
        self._release_port(conn)
        timestamps = self.client_ns.settings.timestamps
        if not self._enter_time_wait(conn.addr.tw, conn.port, conn, substate, has_timestamps=timestamps):
            conn.state = client_next(conn.state, _TW_FULL)

    def tw_expire(self, conn: Conn) -> None:
        # The timer is that of the timewait entry on this port, which may by now be another
        # connection's (the port was reused) or this one's re-armed entry: the socket closes
        # when the entry goes, unless it is closed already.
        if (
            timewait.inet_twsk_expired(self.client_ns, conn.addr.tw, conn.port, self.engine.now)
            and conn.state != _CLOSED
        ):
            conn.state = client_next(conn.state, _TW_EXPIRED)
