"""The link between the namespaces and the kernel's timers: how a packet or a timer gets to its
handler, and when.

A packet goes out with a handler (the receiving side's method for it) and is processed in the
softirq backlog, after the one-way delay on a link with one; it may be lost, or dropped
by the scenario's filter at the server. Teardown packets (FIN and its ACK) are never lost: loss
matters here only for connection establishment. Kernel timers fire on timer-wheel boundaries.
"""

import random
from collections import deque
from collections.abc import Callable
from typing import Any

from tcpq.model.timing import IDEAL_HOST, JIFFIES_PHASE_TICKS, HostTiming, timer_wheel_expiry
from tcpq.scenario import FilterSection
from tcpq.sim.conn import Conn
from tcpq.sim.engine import Engine

# A packet's handler; it returns the softirq time its handling took, in ns, when that differs
# from the link's usual per-packet cost (a SYN, a final ACK that creates a child or is dropped).
Handler = Callable[[Conn], int | None]


class Link:
    def __init__(
        self,
        engine: Engine,
        *,
        rtt_us: int,
        loss: float,
        drop_filter: FilterSection | None,
        rng: random.Random,
        host: HostTiming = IDEAL_HOST,
    ) -> None:
        self.engine = engine
        self.hz = host.hz
        # Where time 0 falls on the jiffies clock: a draw (model/timing.py), like a real run's.
        tick = 1_000_000 // host.hz if host.hz > 0 else 0
        self.jiffies_offset = rng.randrange(JIFFIES_PHASE_TICKS * tick) if tick else 0
        self.costs = host.costs()  # the handlers' costs by kind of packet, in ns
        self.other_ns = self.costs.other
        self.carry_ns = 0  # softirq time not yet a whole µs of the simulator's clock
        # The softirq backlog (kernel-model §14.2): packets sent from process context are
        # processed at once when it is empty (the handshake completes inside connect()); packets
        # sent from a timer are queued and processed after every timer of that tick has run,
        # so a batch of retransmitted SYNs is handled before the first of their final ACKs.
        self.backlog: deque[tuple[Handler, Conn]] = deque()
        self.softirq_busy = False  # a drain of the backlog is under way or scheduled
        self.inline_busy = False  # process context is draining the backlog now
        # packets processed in process context so far: the calling program waits for them
        self.inline_packets = 0
        self.one_way = rtt_us // 2
        self.rtt = rtt_us
        self.loss = loss
        self.filter = drop_filter
        self.random = rng.random

    def timer(self, when: int, action: Callable[[Any], None], arg: object) -> None:
        """Arm a kernel timer for `when` (the model's `jiffies + timeout`): it fires on its
        timer-wheel boundary, a bucket many timers share (model/timing.py)."""
        now = self.engine.now
        self.engine.at_bucket(timer_wheel_expiry(now, when - now, self.hz, self.jiffies_offset), action, arg)

    def send(self, handler: Handler, conn: Conn) -> None:
        """A packet sent from process context (connect(), send(), close())."""
        if self.loss and self.random() < self.loss:
            return
        self.send_reliably(handler, conn)

    def send_reliably(self, handler: Handler, conn: Conn) -> None:
        """A packet that is never lost (teardown)."""
        if self.one_way:
            self.engine.after(self.one_way, self._arrive, (handler, conn))
            return
        self.backlog.append((handler, conn))
        if not (self.inline_busy or self.softirq_busy):
            self._drain_inline()

    def send_from_timer(self, handler: Handler, conn: Conn) -> None:
        """A packet sent by a kernel timer: queued behind everything else this tick."""
        if self.loss and self.random() < self.loss:
            return
        if self.one_way:
            self.engine.after(self.one_way, self._arrive, (handler, conn))
            return
        self.backlog.append((handler, conn))
        if not self.softirq_busy:
            self.softirq_busy = True
            self.engine.after(0, self._drain_softirq, None)

    def _arrive(self, packet: tuple[Handler, Conn]) -> None:
        """A packet off a link with a delay: the receiving softirq processes it, after the
        packets already queued there, at its cost (a wave of final ACKs that arrives together
        is drained one by one, as on a zero-delay link)."""
        self.backlog.append(packet)
        if not self.softirq_busy:
            self.softirq_busy = True
            self._drain_softirq(None)

    def _drain_inline(self) -> None:
        self.inline_busy = True
        backlog = self.backlog
        while backlog:
            handler, conn = backlog.popleft()
            handler(conn)
            self.inline_packets += 1
        self.inline_busy = False

    def _drain_softirq(self, _: object) -> None:
        """net_rx_action(): the packets in arrival order, each taking its handler's cost (or
        `packet_us`), until the backlog is empty. Costs are ns and the clock µs: the fraction
        is carried to the next packet, so 200 packets at 2.3 µs take 460 µs, not 400."""
        backlog = self.backlog
        engine = self.engine
        while backlog:
            handler, conn = backlog.popleft()
            cost = handler(conn)
            carry = self.carry_ns + (self.other_ns if cost is None else cost)
            step, self.carry_ns = divmod(carry, 1000)
            if step and backlog and not engine.advance_to(engine.now + step):
                engine.after(step, self._drain_softirq, None)
                return
        self.carry_ns = 0
        self.softirq_busy = False

    def filtered(self, bare_ack: bool) -> bool:
        """Does the scenario's drop filter take this packet at the server (now)?"""
        rule = self.filter
        if rule is None:
            return False
        now = self.engine.now
        if now < rule.from_ or (rule.until is not None and now >= rule.until):
            return False
        return rule.drop == "non_syn" or bare_ack
