"""What the client and the server namespace share: the link's methods bound once, the
retransmission timer of the FIN a socket sends when it closes, and its timewait sock.

Both sides close the same way in the kernel (tcp_close() → tcp_send_fin(), then the RTO timer
of tcp_retransmit_timer() until the FIN is acknowledged or the retries run out; then
tcp_time_wait(), whose sock answers a FIN again in tcp_timewait_state_process()), so that
lives here once; what a side sends on each retransmission, and what it does when the orphan
is destroyed or the timewait table is full, are its own.
"""

from collections.abc import Callable

from tcpq.model import client as mclient
from tcpq.model import timewait
from tcpq.model.client import ClientSock
from tcpq.model.netns import Netns
from tcpq.sim.conn import Conn
from tcpq.sim.engine import Engine
from tcpq.sim.link import Link
from tcpq.sim.stats import RunStats


class Side:
    """One namespace's end of the link. Subclasses implement `fin_timer` and `tw_expire`."""

    def __init__(self, engine: Engine, ns: Netns, link: Link, stats: RunStats) -> None:
        self.engine = engine
        self.link = link
        self.stats = stats
        self.rtt = link.rtt
        self._ns = ns  # whose counters and sysctls the FIN and TIME_WAIT use
        # Bound once: the handlers call these for every packet (no attribute lookup and
        # bound-method allocation per call).
        self._timer = link.timer
        self._send = link.send
        self._send_reliably = link.send_reliably
        self._send_from_timer = link.send_from_timer
        self._fin_timer = self.fin_timer
        self._tw_expire = self.tw_expire

    def fin_timer(self, conn: Conn) -> None:
        """Our FIN's RTO fired (armed by `_arm_fin`)."""
        raise NotImplementedError

    def _arm_rto(self, sock: ClientSock, handler: Callable[[Conn], None], conn: Conn) -> None:
        """A segment (data, a reply, a FIN) sent now: `handler` runs one data RTO later,
        unless it finds the segment acknowledged by then."""
        rto = mclient.data_rto(self._ns, self.rtt)
        self._timer(mclient.start_data(sock, self.engine.now, rto), handler, conn)

    def _rearm_data(self, sock: ClientSock, handler: Callable[[Conn], None], conn: Conn) -> bool:
        """Data (a request, a reply) still unacknowledged at its RTO: True when it is
        retransmitted now (`handler` re-armed), False when tcp_retries2 ran out (ETIMEDOUT)."""
        nxt = mclient.tcp_retransmit_data(self._ns, sock, self.engine.now)
        if nxt is None:
            return False
        self._timer(nxt, handler, conn)
        return True

    def _arm_fin(self, sock: ClientSock, conn: Conn) -> None:
        """close() sent our FIN: it is retransmitted one data RTO later unless acknowledged."""
        self._arm_rto(sock, self._fin_timer, conn)

    def _rearm_fin(self, sock: ClientSock, conn: Conn) -> bool:
        """Our FIN is still unacknowledged at its RTO: True when it is retransmitted now (the
        timer re-armed), False when the retries ran out and the orphan is destroyed."""
        nxt = mclient.tcp_retransmit_fin(self._ns, sock, self.engine.now)
        if nxt is None:
            return False
        self._timer(nxt, self._fin_timer, conn)
        return True

    def tw_expire(self, conn: Conn) -> None:
        """A timewait sock's timer fired (armed by `_enter_time_wait` or `_timewait_fin`)."""
        raise NotImplementedError

    def _enter_time_wait(
        self,
        table: timewait.TwTable,
        key: int,
        conn: Conn,
        substate: timewait.TwSubstate,
        has_timestamps: bool = True,
    ) -> bool:
        """The closing socket becomes a timewait sock under `key`, its timer armed; False when
        the table is full and the socket just goes (TCPTimeWaitOverflow)."""
        tw = timewait.tcp_time_wait(
            self._ns, table, key=key, now=self.engine.now, substate=substate, has_timestamps=has_timestamps
        )
        if tw is None:
            return False
        self._timer(tw.expires_us, self._tw_expire, conn)
        return True

    def _timewait_fin(self, table: timewait.TwTable, key: int, conn: Conn) -> bool:
        """A FIN for `key`: a timewait sock there acknowledges it and restarts its timer (True);
        False when there is none."""
        tw = table.entries.get(key)
        if tw is None:
            return False
        timewait.tcp_timewait_fin(tw, self.engine.now)
        self._timer(tw.expires_us, self._tw_expire, conn)
        return True
