"""The simulated network: client, server and attacker namespaces joined by a link.

Each method is one packet or timer arriving somewhere; it asks the pure model what the kernel
does and turns the decision into further packets and timers. Teardown packets (FIN and its
ACK) are never lost: loss matters here only for connection establishment.
"""

import random
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from tcpq.model import client as mclient
from tcpq.model import listener as mlistener
from tcpq.model import mib, timewait
from tcpq.model.client import Outcome, tcp_retransmit_syn
from tcpq.model.constants import TCP_DELACK_MIN_US
from tcpq.model.listener import AckVerdict, CookieVerdict, Listener, SynVerdict
from tcpq.model.netns import Netns
from tcpq.model.reqsk import RequestSock, TimerVerdict, reqsk_timer_handler
from tcpq.model.timing import IDEAL_HOST, HostTiming, timer_wheel_expiry
from tcpq.scenario import FilterSection
from tcpq.sim.app import ServerApp
from tcpq.sim.conn import ClientAddress, ClientState, Conn, ServerState
from tcpq.sim.engine import Engine

Handler = Callable[[Conn], None]
# Enum members and states as module constants: the handlers below run for every packet, and
# Enum member lookup costs ~100 ns on Python 3.11.
_REQUEST, _COOKIE = SynVerdict.REQUEST, SynVerdict.COOKIE
_CHILD, _RESET, _SYNACK = AckVerdict.CHILD, AckVerdict.RESET, AckVerdict.SYNACK


class World:
    def __init__(
        self,
        engine: Engine,
        server_ns: Netns,
        client_ns: Netns,
        listener: Listener,
        *,
        rtt_us: int,
        loss: float,
        drop_filter: FilterSection | None,
        rng: random.Random,
        host: HostTiming = IDEAL_HOST,
    ) -> None:
        self.engine = engine
        self.host = host
        self.hz = host.hz
        self.packet_us = host.packet_us
        # The softirq backlog (kernel-model §14.2): packets sent from process context are
        # processed at once when it is empty (the handshake completes inside connect()); packets
        # sent from a timer are queued and processed after every timer of that tick has run,
        # so a batch of retransmitted SYNs is handled before the first of their final ACKs.
        self.backlog: deque[tuple[Handler, Conn]] = deque()
        self.softirq_busy = False  # a drain of the backlog is under way or scheduled
        self.inline_busy = False  # process context is draining the backlog now
        self.server_ns = server_ns
        self.client_ns = client_ns
        self.listener = listener
        self.one_way = rtt_us // 2
        self.rtt = rtt_us
        self.loss = loss
        self.filter = drop_filter
        self.random = rng.random
        self.app: ServerApp | None = None
        self.live: dict[int, Conn] = {}  # connections with server-side state, by id
        self.addresses: list[ClientAddress] = []
        self.server_tw = timewait.TwTable()
        self.outcomes: Counter[Outcome] = Counter()
        self.connect_times: list[int] = []
        self.response_times: list[int] = []
        self.accept_peak = 0
        self.syn_peak = 0
        self.cookie_connections = 0
        self.attack_id = -1
        self.close_delay = 0  # how long the server application takes to close after EOF
        self.request_timeout = client_ns.profile.initial_rto_ms * 1000
        self.synack_timeout = server_ns.profile.initial_rto_ms * 1000

    # -- delivery ---------------------------------------------------------------------------
    def _timer(self, when: int, action: Callable[[Any], None], arg: object) -> None:
        """Arm a kernel timer for `when` (the model's `jiffies + timeout`): it fires on its
        timer-wheel boundary, a bucket many timers share (model/timing.py)."""
        now = self.engine.now
        self.engine.at_bucket(timer_wheel_expiry(now, when - now, self.hz), action, arg)

    def _send(self, handler: Handler, conn: Conn) -> None:
        """A packet sent from process context (connect(), send(), close())."""
        if self.loss and self.random() < self.loss:
            return
        self._send_reliably(handler, conn)

    def _send_reliably(self, handler: Handler, conn: Conn) -> None:
        if self.one_way:
            self.engine.after(self.one_way, handler, conn)
            return
        self.backlog.append((handler, conn))
        if not (self.inline_busy or self.softirq_busy):
            self._drain_inline()

    def _send_from_timer(self, handler: Handler, conn: Conn) -> None:
        """A packet sent by a kernel timer: queued behind everything else this tick."""
        if self.loss and self.random() < self.loss:
            return
        if self.one_way:
            self.engine.after(self.one_way, handler, conn)
            return
        self.backlog.append((handler, conn))
        if not self.softirq_busy:
            self.softirq_busy = True
            self.engine.after(0, self._drain_softirq, None)

    def _drain_inline(self) -> None:
        self.inline_busy = True
        backlog = self.backlog
        while backlog:
            handler, conn = backlog.popleft()
            handler(conn)
        self.inline_busy = False

    def _drain_softirq(self, _: object) -> None:
        """net_rx_action(): one packet per `packet_us`, in arrival order, until the backlog is empty."""
        backlog = self.backlog
        cost = self.packet_us
        if cost == 0:
            while backlog:
                handler, conn = backlog.popleft()
                handler(conn)
        elif backlog:
            handler, conn = backlog.popleft()
            handler(conn)
            if backlog:
                self.engine.after(cost, self._drain_softirq, None)
                return
        self.softirq_busy = False

    def _filtered(self, bare_ack: bool) -> bool:
        rule = self.filter
        if rule is None:
            return False
        now = self.engine.now
        if now < rule.from_ or (rule.until is not None and now >= rule.until):
            return False
        return rule.drop == "non_syn" or bare_ack

    def _resolve(self, conn: Conn, outcome: Outcome) -> None:
        if conn.outcome is not None:
            self.outcomes[conn.outcome] -= 1
        conn.outcome = outcome
        self.outcomes[outcome] += 1

    def new_address(self) -> ClientAddress:
        """Another client source address in the client namespace."""
        low, high = self.client_ns.settings.local_port_range
        address = ClientAddress(
            name=f"client{len(self.addresses)}", ports=timewait.PortSpace(low=low, high=high)
        )
        self.addresses.append(address)
        return address

    def _release_port(self, conn: Conn) -> None:
        conn.addr.ports.live.discard(conn.port)

    def _fail(self, conn: Conn, outcome: Outcome) -> None:
        conn.state = ClientState.CLOSED
        self._resolve(conn, outcome)
        self._release_port(conn)

    # -- client side ------------------------------------------------------------------------
    def client_start(self, conn: Conn) -> None:
        now = self.engine.now
        port = timewait.inet_hash_connect(self.client_ns, conn.addr.ports, conn.addr.tw, now)
        if port is None:
            conn.state = ClientState.CLOSED
            self._resolve(conn, Outcome.NO_PORT)
            return
        conn.port = port
        conn.state = ClientState.SYN_SENT
        sock = conn.sock = mclient.tcp_connect(self.client_ns, conn.id, now)
        self._timer(now + sock.rto_us, self.client_syn_timer, conn)
        if conn.plan.connect_timeout is not None:
            self.engine.after(conn.plan.connect_timeout, self.client_app_timeout, conn)
        self._send(self.server_syn, conn)

    def client_syn_timer(self, conn: Conn) -> None:
        # The simulator's hottest handler (every SYN retransmission of every blocked client).
        if conn.state != ClientState.SYN_SENT:
            return
        assert conn.sock is not None
        now = self.engine.now
        nxt = tcp_retransmit_syn(self.client_ns, conn.sock, now)
        if nxt is None:
            self._fail(conn, Outcome.TIMED_OUT)
            return
        self._timer(nxt, self.client_syn_timer, conn)
        self._send_from_timer(self.server_syn, conn)

    def client_app_timeout(self, conn: Conn) -> None:
        if conn.state == ClientState.SYN_SENT:
            self._fail(conn, Outcome.TIMED_OUT)

    def client_synack(self, conn: Conn) -> None:
        now = self.engine.now
        state = conn.state
        if state == ClientState.SYN_SENT:
            conn.state = ClientState.ESTABLISHED
            self.connect_times.append(now - conn.start)
            plan = conn.plan
            if plan.request:
                self.engine.after(plan.request_after, self.client_send_request, conn)
            else:
                self._resolve(conn, Outcome.CONNECTED)
                if plan.close_after is not None:
                    self.engine.after(plan.close_after, self.client_close, conn)
            self._send(self.server_bare_ack, conn)
        elif state == ClientState.ESTABLISHED:
            assert conn.sock is not None
            if mclient.tcp_syn_challenge(self.client_ns, conn.sock, now):
                self._send(self.server_bare_ack, conn)
        elif state == ClientState.CLOSED:
            self.client_ns.counters[mib.OUT_RSTS] += 1  # no socket: the client kernel resets
            self._send(self.server_rst, conn)

    def client_send_request(self, conn: Conn) -> None:
        if conn.state != ClientState.ESTABLISHED:
            return
        assert conn.sock is not None
        conn.data_unacked = True
        rto = mclient.data_rto(self.client_ns, self.rtt)
        expiry = mclient.start_data(conn.sock, self.engine.now, rto)
        self._timer(expiry, self.client_data_timer, conn)
        self._send(self.server_data, conn)

    def client_data_timer(self, conn: Conn) -> None:
        if conn.state != ClientState.ESTABLISHED or not conn.data_unacked:
            return
        assert conn.sock is not None
        nxt = mclient.tcp_retransmit_data(self.client_ns, conn.sock, self.engine.now)
        if nxt is None:
            self._fail(conn, Outcome.TIMED_OUT)
            return
        self._timer(nxt, self.client_data_timer, conn)
        self._send_from_timer(self.server_data, conn)

    def client_data_acked(self, conn: Conn) -> None:
        conn.data_unacked = False

    def client_reply(self, conn: Conn) -> None:
        if conn.state != ClientState.ESTABLISHED:
            return
        now = self.engine.now
        conn.data_unacked = False
        self._resolve(conn, Outcome.CONNECTED)
        self.response_times.append(now - conn.start)
        if conn.plan.close_after is not None:
            self.engine.after(conn.plan.close_after, self.client_close, conn)

    def client_rst(self, conn: Conn) -> None:
        if conn.state == ClientState.SYN_SENT:
            self._fail(conn, mclient.tcp_rcv_synsent_rst(self.client_ns))
        elif conn.state == ClientState.ESTABLISHED:
            self._fail(conn, mclient.tcp_reset_established(self.client_ns))

    def client_close(self, conn: Conn) -> None:
        if conn.state != ClientState.ESTABLISHED:
            return
        if conn.server_fin_at_client:
            conn.state = ClientState.CLOSED  # passive close: LAST_ACK, then gone
            self._release_port(conn)
            self._send_reliably(self.server_fin, conn)
            return
        conn.state = ClientState.FIN_WAIT
        self._send_reliably(self.server_fin, conn)

    def client_fin_acked(self, conn: Conn) -> None:
        """A bare ACK of our FIN: orphaned FIN_WAIT2 becomes a timewait sock (kernel-model §8.4)."""
        if conn.state != ClientState.FIN_WAIT or conn.port in conn.addr.tw.entries:
            return
        conn.fin_acked = True
        self._client_time_wait(conn, timewait.TwSubstate.FIN_WAIT2)

    def client_fin(self, conn: Conn) -> None:
        """The server's FIN reaches the client."""
        conn.server_fin_at_client = True
        if conn.state == ClientState.FIN_WAIT:
            tw = conn.addr.tw.entries.get(conn.port)
            if tw is not None:
                timewait.tcp_timewait_fin(tw, self.engine.now)
                self._timer(tw.expires_us, self.client_tw_expire, conn)
            elif not conn.fin_acked:
                self._fin_wait1_to_time_wait(conn)
        elif conn.state == ClientState.CLOSED:
            self.client_ns.counters[mib.OUT_RSTS] += 1  # TW overflowed: nothing matches the FIN

    def _fin_wait1_to_time_wait(self, conn: Conn) -> None:
        """FIN and ACK together (the peer's FIN rode on its delayed ACK): straight to TIME_WAIT.

        On a full table the socket just goes (TCPTimeWaitOverflow); the FIN was already ACKed,
        so nothing is answered with RST later (kernel-model §8.2).
        """
        self._client_time_wait(conn, timewait.TwSubstate.TIME_WAIT)

    def _client_time_wait(self, conn: Conn, substate: timewait.TwSubstate) -> None:
        """The closing client socket becomes a timewait sock, or just goes when the table is full."""
        self._release_port(conn)
        tw = timewait.tcp_time_wait(
            self.client_ns,
            conn.addr.tw,
            key=conn.port,
            now=self.engine.now,
            substate=substate,
            has_timestamps=self.client_ns.settings.timestamps,
        )
        if tw is None:
            conn.state = ClientState.CLOSED
        else:
            self._timer(tw.expires_us, self.client_tw_expire, conn)

    def client_tw_expire(self, conn: Conn) -> None:
        if timewait.inet_twsk_expired(self.client_ns, conn.addr.tw, conn.port, self.engine.now):
            conn.state = ClientState.CLOSED

    # -- server side ------------------------------------------------------------------------
    def server_syn(self, conn: Conn) -> None:
        listener = self.listener
        now = self.engine.now
        if conn.srv == ServerState.REQUEST:
            req = listener.requests[conn.id]
            if mlistener.tcp_check_req_syn(self.server_ns, req, now=now) is _SYNACK:
                self._arm_request(req)
                self._send(self.client_synack, conn)
            return
        if conn.srv != ServerState.NONE:
            return  # a stale SYN for an established child: not modelled (challenge ACK)
        verdict = mlistener.tcp_conn_request(
            self.server_ns,
            listener,
            conn=conn.id,
            peer=conn.addr.name,
            now=now,
            initial_timeout_us=self.synack_timeout,
        )
        if verdict is _REQUEST:
            conn.srv = ServerState.REQUEST
            self.live[conn.id] = conn
            req = listener.requests[conn.id]
            self._arm_request(req)
            if listener.qlen > self.syn_peak:
                self.syn_peak = listener.qlen
            self._send(self.client_synack, conn)
        elif verdict is _COOKIE:
            conn.cookie_issued = now
            self._send(self.client_synack, conn)

    def attack_syn(self, _: object) -> None:
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
            if listener.qlen > self.syn_peak:
                self.syn_peak = listener.qlen

    def _arm_request(self, req: RequestSock) -> None:
        self._timer(req.expires_us, self.server_req_timer, (req, req.expires_us))

    def server_req_timer(self, armed: tuple[RequestSock, int]) -> None:
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
                conn.srv = ServerState.NONE
            return
        if was_young:
            listener.young -= 1
        self._arm_request(req)
        if verdict is TimerVerdict.RESENT and req.conn >= 0:
            self._send_from_timer(self.client_synack, self.live[req.conn])

    def server_bare_ack(self, conn: Conn) -> None:
        if not self._filtered(bare_ack=True):
            self._server_ack(conn, data=False)

    def server_data(self, conn: Conn) -> None:
        if not self._filtered(bare_ack=False):
            self._server_ack(conn, data=True)

    def _server_ack(self, conn: Conn, data: bool) -> None:
        srv = conn.srv
        listener = self.listener
        if srv == ServerState.REQUEST:
            verdict = mlistener.tcp_check_req(
                self.server_ns, listener, listener.requests[conn.id], now=self.engine.now
            )
            if verdict is _CHILD:
                self._child_created(conn, data)
            elif verdict is _RESET:
                conn.srv = ServerState.NONE
                self.live.pop(conn.id, None)
                self._send(self.client_rst, conn)
        elif srv in (ServerState.QUEUED, ServerState.ACCEPTED):
            if data:
                self._data_arrived(conn)
        else:
            cookie = mlistener.tcp_v4_cookie_check(
                self.server_ns,
                listener,
                conn=conn.id,
                cookie_issued_us=conn.cookie_issued,
                now=self.engine.now,
            )
            if cookie is CookieVerdict.CHILD:
                conn.via_cookie = True
                self.cookie_connections += 1
                self.live[conn.id] = conn
                self._child_created(conn, data)
            elif cookie is CookieVerdict.RESET:
                self._send(self.client_rst, conn)

    def _child_created(self, conn: Conn, data: bool) -> None:
        conn.srv = ServerState.QUEUED
        depth = self.listener.acceptq_len
        if depth > self.accept_peak:
            self.accept_peak = depth
        if data:
            self._data_arrived(conn)
        if self.app is not None:
            self.app.on_child()

    def _data_arrived(self, conn: Conn) -> None:
        self._send(self.client_data_acked, conn)
        if conn.data_at_server:
            return
        conn.data_at_server = True
        if conn.srv == ServerState.ACCEPTED and self.app is not None:
            self.app.on_data(conn)

    def server_rst(self, conn: Conn) -> None:
        if self._filtered(bare_ack=False):
            return
        if conn.srv == ServerState.REQUEST:
            mlistener.tcp_check_req_rst(self.server_ns, self.listener, self.listener.requests[conn.id])
            conn.srv = ServerState.NONE
            self.live.pop(conn.id, None)

    def server_fin(self, conn: Conn) -> None:
        conn.client_fin_at_server = True
        if (
            conn.srv == ServerState.ACCEPTED
            and not conn.waiting_worker
            and self.close_delay < TCP_DELACK_MIN_US
        ):
            # tcp_fin() puts the socket in pingpong mode, so its ACK waits for the delayed-ACK
            # timer; an application that closes sooner sends its FIN with that ACK.
            self.engine.after(self.close_delay, self._app_eof, conn)
            return
        if conn.srv != ServerState.CLOSED:
            self.engine.after(TCP_DELACK_MIN_US + self.one_way, self.client_fin_acked, conn)
        if conn.srv == ServerState.ACCEPTED:
            self.engine.after(self.close_delay, self._app_eof, conn)
        elif conn.srv == ServerState.CLOSED:
            tw = self.server_tw.entries.get(conn.id)
            if tw is not None:
                timewait.tcp_timewait_fin(tw, self.engine.now)
                self._timer(tw.expires_us, self.server_tw_expire, conn)

    def _app_eof(self, conn: Conn) -> None:
        if self.app is not None:
            self.app.on_eof(conn)

    def server_tw_expire(self, conn: Conn) -> None:
        timewait.inet_twsk_expired(self.server_ns, self.server_tw, conn.id, self.engine.now)

    def server_fin_acked(self, conn: Conn) -> None:
        tw = timewait.tcp_time_wait(
            self.server_ns,
            self.server_tw,
            key=conn.id,
            now=self.engine.now,
            substate=timewait.TwSubstate.FIN_WAIT2,
        )
        if tw is not None:
            self._timer(tw.expires_us, self.server_tw_expire, conn)

    # -- ServerHost, for the application ----------------------------------------------------
    def accept(self) -> Conn | None:
        conn_id = mlistener.inet_csk_accept(self.listener)
        if conn_id is None:
            return None
        conn = self.live[conn_id]
        conn.srv = ServerState.ACCEPTED
        return conn

    def queued(self) -> int:
        return self.listener.acceptq_len

    def reply(self, conn: Conn) -> None:
        if conn.srv == ServerState.ACCEPTED:
            self._send(self.client_reply, conn)

    def close(self, conn: Conn) -> None:
        if conn.srv != ServerState.ACCEPTED:
            return
        conn.srv = ServerState.CLOSED
        self.live.pop(conn.id, None)
        active = not conn.client_fin_at_server
        self._send_reliably(self.client_fin, conn)
        if active:
            self.engine.after(self.rtt, self.server_fin_acked, conn)
