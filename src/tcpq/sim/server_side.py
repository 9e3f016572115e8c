"""The server namespace: the listener's handlers for packets and timers, the attacker's SYNs,
and the ServerHost (sim/app.py) the application calls: accept(), reply(), close().

It asks the pure model (model/listener.py, model/reqsk.py, model/timewait.py) what the kernel
does and turns the decision into packets to the client side and timers; what the server holds
for a connection moves only through lifecycle.server_next.
"""

from typing import Final

from tcpq.model import listener as mlistener
from tcpq.model import timewait
from tcpq.model.client import ClientSock
from tcpq.model.constants import TCP_DELACK_MIN_US
from tcpq.model.listener import AckVerdict, CookieVerdict, Listener, SynVerdict
from tcpq.model.netns import Netns
from tcpq.model.reqsk import RequestSock, TimerVerdict, reqsk_timer_handler
from tcpq.sim.app import ServerApp
from tcpq.sim.client_side import ClientSide
from tcpq.sim.conn import Conn
from tcpq.sim.engine import Engine
from tcpq.sim.lifecycle import ServerEvent, ServerState, server_next
from tcpq.sim.link import Link
from tcpq.sim.side import Side
from tcpq.sim.stats import RunStats

# Enum members and states as module constants: the handlers below run for every packet, and
# Enum member lookup costs ~100 ns on Python 3.11.
_REQUEST: Final = SynVerdict.REQUEST
_COOKIE: Final = SynVerdict.COOKIE
_CHILD: Final = AckVerdict.CHILD
_RESET: Final = AckVerdict.RESET
_SYNACK: Final = AckVerdict.SYNACK
_OVERFLOW: Final = AckVerdict.OVERFLOW
_NONE: Final = ServerState.NONE
_REQ: Final = ServerState.REQUEST
_QUEUED: Final = ServerState.QUEUED
_ACCEPTED: Final = ServerState.ACCEPTED
_CLOSED: Final = ServerState.CLOSED


class ServerSide(Side):
    def __init__(
        self,
        engine: Engine,
        server_ns: Netns,
        listener: Listener,
        link: Link,
        stats: RunStats,
        client: ClientSide,
    ) -> None:
        super().__init__(engine, server_ns, link, stats)
        self.server_ns = server_ns
        self.listener = listener
        self.one_way = link.one_way
        self.app: ServerApp | None = None
        self.close_delay = 0  # how long the server application takes to close after EOF
        self.live: dict[int, Conn] = {}  # connections with server-side state, by id
        self.server_tw = timewait.TwTable()
        self.attack_id = -1
        self.synack_timeout = server_ns.profile.initial_rto_ms * 1000
        self._client = client
        # Bound once, like the link's methods in Side.
        self._filtered = link.filtered
        costs = link.costs
        self._syn_cost, self._child_cost, self._drop_cost = costs.syn, costs.child, costs.drop
        self._req_timer = self.req_timer
        self._client_synack = client.synack
        self._client_rst = client.rst
        self._client_data_acked = client.data_acked
        self._client_reply = client.reply
        self._client_reply_again = client.reply_again
        self._reply_timer = self.reply_timer
        self._client_fin = client.fin
        self._client_fin_acked = client.fin_acked
        self._client_fin_again = client.fin_again
        self._fin_ack = self.fin_ack

    def syn(self, conn: Conn) -> int | None:
        """A SYN at the listener; returns its softirq cost (answered or dropped)."""
        listener = self.listener
        now = self.engine.now
        if conn.srv == _REQ:
            req = listener.requests[conn.id]
            if mlistener.tcp_check_req_syn(self.server_ns, req, now=now) is _SYNACK:
                self._arm_request(req)
                self._send(self._client_synack, conn)
            return self._syn_cost
        if conn.srv != _NONE:
            return None  # a stale SYN for an established child: not modelled (challenge ACK)
        verdict = mlistener.tcp_conn_request(
            self.server_ns,
            listener,
            conn=conn.id,
            peer=conn.addr.name,
            now=now,
            initial_timeout_us=self.synack_timeout,
        )
        if verdict is _REQUEST:
            conn.srv = server_next(conn.srv, ServerEvent.SYN_QUEUED)
            self.live[conn.id] = conn
            req = listener.requests[conn.id]
            self._arm_request(req)
            stats = self.stats
            if listener.qlen > stats.syn_peak:
                stats.syn_peak = listener.qlen
            self._send(self._client_synack, conn)
            return self._syn_cost
        if verdict is _COOKIE:
            conn.cookie_issued = now
            self._send(self._client_synack, conn)
            return self._syn_cost
        return self._drop_cost

    def attack_syn(self, _: object) -> None:
        """A spoofed SYN: a request nobody will complete (its SYN-ACKs go nowhere)."""
        listener = self.listener
        conn_id = self.attack_id
        self.attack_id -= 1
        verdict = mlistener.tcp_conn_request(
            self.server_ns,
            listener,
            conn=conn_id,
            peer=f"spoof{conn_id}",
            now=self.engine.now,
            initial_timeout_us=self.synack_timeout,
        )
        if verdict is _REQUEST:
            req = listener.requests[conn_id]
            self._arm_request(req)
            stats = self.stats
            if listener.qlen > stats.syn_peak:
                stats.syn_peak = listener.qlen

    def _arm_request(self, req: RequestSock) -> None:
        self._timer(req.expires_us, self._req_timer, (req, req.expires_us))

    def req_timer(self, armed: tuple[RequestSock, int]) -> None:
        listener = self.listener
        now = self.engine.now
        req, expires = armed
        if listener.requests.get(req.conn) is not req or req.expires_us != expires:
            return  # expired, completed, reset, or pushed out by a retransmitted SYN
        was_young = req.young
        verdict = reqsk_timer_handler(
            self.server_ns, req, qlen=listener.qlen, young=listener.young, backlog=listener.backlog, now=now
        )
        if verdict is TimerVerdict.EXPIRED:
            mlistener.reqsk_unlink(listener, req)
            conn = self.live.pop(req.conn, None)
            if conn is not None:
                conn.srv = server_next(conn.srv, ServerEvent.REQUEST_EXPIRED)
            return
        if was_young:
            listener.young -= 1
        self._arm_request(req)
        if verdict is TimerVerdict.RESENT and req.conn >= 0:
            self._send_from_timer(self._client_synack, self.live[req.conn])

    def bare_ack(self, conn: Conn) -> int | None:
        return None if self._filtered(bare_ack=True) else self._ack(conn, data=False)

    def data(self, conn: Conn) -> int | None:
        return None if self._filtered(bare_ack=False) else self._ack(conn, data=True)

    def _ack(self, conn: Conn, data: bool) -> int | None:
        """An ACK (or data) from the client; returns its softirq cost when it met the
        listener: a child created, or dropped by a full accept queue."""
        srv = conn.srv
        listener = self.listener
        if srv == _REQ:
            verdict = mlistener.tcp_check_req(
                self.server_ns, listener, listener.requests[conn.id], now=self.engine.now
            )
            if verdict is _CHILD:
                conn.srv = server_next(srv, ServerEvent.CHILD)
                self._child_created(conn, data)
                return self._child_cost
            if verdict is _RESET:
                conn.srv = server_next(srv, ServerEvent.ACK_RESET)
                self.live.pop(conn.id, None)
                self._send(self._client_rst, conn)
            return self._drop_cost if verdict is _OVERFLOW else None
        if srv in (_QUEUED, _ACCEPTED):
            if data:
                self._data_arrived(conn)
            return None
        cookie = mlistener.tcp_v4_cookie_check(
            self.server_ns,
            listener,
            conn=conn.id,
            cookie_issued_us=conn.cookie_issued,
            now=self.engine.now,
        )
        if cookie is CookieVerdict.CHILD:
            conn.srv = server_next(srv, ServerEvent.COOKIE_CHILD)
            conn.via_cookie = True
            self.stats.cookie_connections += 1
            self.live[conn.id] = conn
            self._child_created(conn, data)
            return self._child_cost
        if cookie is CookieVerdict.RESET:
            self._send(self._client_rst, conn)
            return None
        return self._drop_cost

    def _child_created(self, conn: Conn, data: bool) -> None:
        """A child just joined the accept queue (its state is QUEUED already)."""
        depth = self.listener.acceptq_len
        stats = self.stats
        if depth > stats.accept_peak:
            stats.accept_peak = depth
        if data:
            self._data_arrived(conn)
        if self.app is not None:
            self.app.on_child()

    def _data_arrived(self, conn: Conn) -> None:
        self._send(self._client_data_acked, conn)
        if conn.data_at_server:
            return
        conn.data_at_server = True
        if conn.srv == _ACCEPTED and self.app is not None:
            self.app.on_data(conn)

    def rst(self, conn: Conn) -> None:
        if self._filtered(bare_ack=False):
            return
        if conn.srv == _REQ:
            mlistener.tcp_check_req_rst(self.server_ns, self.listener, self.listener.requests[conn.id])
            conn.srv = server_next(conn.srv, ServerEvent.RST)
            self.live.pop(conn.id, None)

    def fin(self, conn: Conn) -> int | None:
        # A filter of every non-SYN segment drops a FIN whatever the server holds for it: the
        # client retransmits it (fuzz-5-14: the kernel's client 3 RTOs, the server none).
        if self._filtered(bare_ack=False):
            return None
        conn.reply_acked = True  # the FIN acknowledges everything the client received
        cost = None
        if conn.srv in (_REQ, _NONE):
            # A FIN carries an ACK: at a request sock (or with a cookie) tcp_check_req()
            # (cookie_v4_check()) completes the handshake with it like a bare ACK, and the new
            # child then processes the FIN (tcp_child_process()); a full accept queue drops it.
            cost = self._ack(conn, data=False)
            if conn.srv != _QUEUED:
                return cost
        conn.client_fin_at_server = True
        if conn.srv == _ACCEPTED and not conn.waiting_worker and self.close_delay < TCP_DELACK_MIN_US:
            # tcp_fin() puts the socket in pingpong mode, so its ACK waits for the delayed-ACK
            # timer; an application that closes sooner sends its FIN with that ACK.
            self.engine.after(self.close_delay, self._app_eof, conn)
            return cost
        if conn.srv != _CLOSED:
            self.engine.after(TCP_DELACK_MIN_US + self.one_way, self._client_fin_acked, conn)
        if conn.srv == _ACCEPTED:
            self.engine.after(self.close_delay, self._app_eof, conn)
        elif conn.srv == _CLOSED:
            self._timewait_fin(self.server_tw, conn.id, conn)
        return cost

    def _app_eof(self, conn: Conn) -> None:
        if self.app is not None:
            self.app.on_eof(conn)

    def tw_expire(self, conn: Conn) -> None:
        timewait.inet_twsk_expired(self.server_ns, self.server_tw, conn.id, self.engine.now)

    def fin_acked(self, conn: Conn) -> None:
        self._enter_time_wait(self.server_tw, conn.id, conn, timewait.TwSubstate.FIN_WAIT2)

    # -- ServerHost, for the application ----------------------------------------------------
    def accept(self) -> Conn | None:
        conn_id = mlistener.inet_csk_accept(self.listener)
        if conn_id is None:
            return None
        conn = self.live[conn_id]
        conn.srv = server_next(conn.srv, ServerEvent.ACCEPT)
        return conn

    def queued(self) -> int:
        return self.listener.acceptq_len

    def client_busy_until(self) -> int:
        return self._client.program_busy_until

    def reply(self, conn: Conn) -> None:
        """The application's reply: retransmitted like data (a loss probe, then RTOs,
        tcp_retransmit_timer()) until an ACK of it gets through (model/client.py)."""
        if conn.srv != _ACCEPTED:
            return
        self._send(self._client_reply, conn)
        now = self.engine.now
        sock = conn.reply_sock = ClientSock(conn=conn.id, first_send_us=now, rto_us=0)
        self._arm_rto(sock, self._reply_timer, conn)

    def reply_timer(self, conn: Conn) -> None:
        sock = conn.reply_sock
        if conn.reply_acked or sock is None:
            return
        if not self._rearm_data(sock, self._reply_timer, conn):
            conn.reply_acked = True  # given up: the socket is destroyed (ETIMEDOUT)
            return
        self._send_from_timer(self._client_reply_again, conn)

    def reply_ack(self, conn: Conn) -> None:
        """A bare ACK of the reply (the first, or a timewait sock's)."""
        if not self._filtered(bare_ack=True):
            conn.reply_acked = True

    def reply_answer(self, conn: Conn) -> None:
        """The client's answer to a retransmitted reply that is not a bare 52-byte ACK: a
        duplicate ACK with a D-SACK block, or a reset (no socket there; ours goes). Either
        ends the retransmissions."""
        if not self._filtered(bare_ack=False):
            conn.reply_acked = True

    def close(self, conn: Conn) -> None:
        if conn.srv != _ACCEPTED:
            return
        conn.srv = server_next(conn.srv, ServerEvent.CLOSE)
        self.live.pop(conn.id, None)
        active = not conn.client_fin_at_server
        self._send_reliably(self._client_fin, conn)
        now = self.engine.now
        # The client's FIN timer (Side, model/client.py tcp_retransmit_fin): the FIN is retransmitted
        # until the client's ACK gets through; only a filter at the server drops that ACK.
        conn.server_closed_first = active
        sock = conn.server_sock = ClientSock(conn=conn.id, first_send_us=now, rto_us=0)
        self._arm_fin(sock, conn)
        self.engine.after(self.rtt, self._fin_ack, conn)

    def fin_ack(self, conn: Conn) -> None:
        """The client's ACK of our FIN: after an active close FIN_WAIT2, held as a timewait
        sock; after the client's own FIN (LAST_ACK) the socket just goes."""
        if conn.server_fin_acked or self._fin_ack_filtered(conn):
            return
        conn.server_fin_acked = True
        conn.reply_acked = True  # the ACK of our FIN acknowledges the reply before it
        if conn.server_closed_first:
            self.fin_acked(conn)

    def _fin_ack_filtered(self, conn: Conn) -> bool:
        """Whether a filter drops the client's ACK of our FIN. A full socket acknowledges a
        retransmitted FIN as a duplicate with a D-SACK block (RFC 2883, tcp_send_dupack()):
        not a bare 52-byte ACK, so only a filter of every non-SYN segment drops it (measured:
        one retransmission, then the ACK gets through the lab's filter). A timewait sock
        answers it with tcp_v4_timewait_ack() → tcp_v4_send_ack(), timestamps only: a bare
        ACK again, so a client that closed first leaves our FIN unacknowledged for as long as
        the filter lasts (fuzz-3-32: 44 server RTOs in a 1 s filter)."""
        sock = conn.server_sock
        from_full_socket = conn.port not in conn.addr.tw.entries
        dsack = sock is not None and sock.retransmits > 0 and from_full_socket
        return self._filtered(bare_ack=not dsack)

    def fin_timer(self, conn: Conn) -> None:
        sock = conn.server_sock
        if conn.server_fin_acked or sock is None:
            return
        if not self._rearm_fin(sock, conn):
            return  # the orphan is destroyed
        self._send_reliably(self._client_fin_again, conn)
        self.engine.after(self.rtt, self._fin_ack, conn)
