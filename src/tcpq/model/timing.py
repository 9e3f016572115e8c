"""Time on the host: the durations that decide queue occupancy under a burst (kernel-model §14).

The kernel model elsewhere says *what* the kernel does with a packet; this module says *when*.
Two kinds of time live here, both inputs to the model like sysctls (nothing here reads a clock):

- The timer wheel (kernel/time/timer.c). TCP's retransmission, request and TIME_WAIT timers are
  `timer_list` timers: armed at `jiffies + timeout`, they fire at the first boundary of their
  wheel level's granularity after that (1 jiffy below 63 jiffies, 8 jiffies below 504, 64 below
  4032, 512 below 32256 ...). At HZ=250 a 1 s timer fires 4–32 ms late, and — what matters
  under a burst — every timer armed within the same 32 ms fires in the same tick, so clients
  that were dropped together retransmit together (kernel-model §14.1, measured 1.013, 3.029,
  7.189, 15.381, 31.509 s for the SYN-ACK schedule).
- The host's own speed (`HostTiming`): how fast a client program issues `connect()` calls, how
  long the stack takes per packet when packets are queued in a softirq backlog, how long a
  sleeping server application takes to wake up and how long one `accept()` takes. Measured on
  a machine by `tcpq lab calibrate`; the defaults were measured on the reference machine.
"""

from dataclasses import dataclass

LVL_CLK_SHIFT = 3  # kernel/time/timer.c: each level is 8 times coarser than the one below
LVL_BITS = 6  # 64 buckets per level
LVL_DEPTH = 9  # levels at HZ > 100


def _level_start(level: int) -> int:
    """LVL_START(n): the smallest delta (in jiffies) that goes to level n."""
    return ((1 << LVL_BITS) - 1) << ((level - 1) * LVL_CLK_SHIFT)


# LVL_START(1) ... LVL_START(LVL_DEPTH - 1): computed once, read for every timer armed.
_LEVEL_STARTS = tuple(_level_start(level) for level in range(1, LVL_DEPTH))


def msecs_to_jiffies_us(delay_us: int, tick_us: int) -> int:
    """A delay in whole jiffies, rounded up as msecs_to_jiffies()/usecs_to_jiffies() do."""
    return -(-delay_us // tick_us)


def timer_wheel_expiry(now_us: int, delay_us: int, hz: int, jiffies_offset_us: int = 0) -> int:
    """When a `mod_timer(t, jiffies + delay)` armed at `now_us` really fires, in µs.

    calc_wheel_index(): the level is chosen by the delta; calc_index() rounds the expiry up to
    the next multiple of that level's granularity ("a timer never fires early"). hz = 0 means
    ideal timers (no tick): the model's exact schedule. `jiffies_offset_us`: where time 0 falls
    on the jiffies clock (a real run starts at no particular tick: the simulator draws it, so
    whether a burst's timers share one wheel bucket or straddle two is a draw, as on a host).
    """
    if hz <= 0 or delay_us <= 0:
        return now_us + max(0, delay_us)
    tick_us = 1_000_000 // hz
    now_us += jiffies_offset_us
    now_j = now_us // tick_us
    delta = msecs_to_jiffies_us(delay_us, tick_us)
    expires = now_j + delta
    level = 0
    while level < LVL_DEPTH - 1 and delta >= _LEVEL_STARTS[level]:
        level += 1
    shift = level * LVL_CLK_SHIFT
    bucket = ((expires >> shift) + 1) << shift
    return bucket * tick_us - jiffies_offset_us


# A sleep this long or longer ends as late as `long_sleep_late_us` says, a shorter one as
# `sleep_late_us`: measured, a sleep's overshoot grows with its length (median 83-93 µs at
# 0.5-2 ms, 116 µs at 5 ms, 168-186 µs at 20-100 ms, 2 vCPUs idle): the longer a vCPU idles,
# the deeper it halts and the slower it wakes.
LONG_SLEEP_US = 5000

# Where time 0 falls on the jiffies clock is drawn from one level-3 granule (512 ticks): every
# coarser boundary than that is seconds away from a run's bursts.
JIFFIES_PHASE_TICKS = 512


@dataclass(frozen=True)
class HostTiming:
    """The host's speed, in µs (scenario `[host]`, `tcpq lab calibrate`).

    `wakeup_us` is an empirical distribution (quantiles, drawn uniformly) of *cold* wake-ups,
    after the process slept `cold_after_us` or longer; a process woken sooner (an event loop
    between two connections of a burst) takes `warm_wakeup_us`. Measured here: 30 µs after
    0.2 ms asleep, 55 µs after 1 ms, 110 µs after 10 ms (both CPUs idle), ~300 µs when the
    other CPU runs the client's burst. `behind_client` is
    the chance (drawn once per run: a placement persists over many bursts) that the woken
    server finds no free CPU while the client program is issuing a burst of connect() calls
    (on two CPUs the scheduler often places the woken server where the client runs, or the
    other CPU is busy), so the server runs only once the client program sleeps: measured, it
    decides whether a burst of 20 to a backlog of 2 overflows twice or 31 times. It waits at
    most `slice_us`: the scheduler preempts a client that never sleeps once its slice is used
    up, at a tick (measured 1.4-4.2 ms here: EEVDF's base slice is 1.5 ms on two CPUs).

    A packet drained from a softirq backlog costs what its handling costs (`PacketCosts`):
    a final ACK that creates a child (sk_clone_lock, hashing, queueing) takes about twice as
    long as one the full accept queue drops, so a wave of cookie ACKs into a full queue drains
    twice as fast as the application would guess from the handshake's mean cost. Unset kinds
    cost `packet_us`.
    """

    hz: int  # CONFIG_HZ: the timer wheel's tick (0: ideal timers)
    connect_gap_us: int  # one client program: time between two connect() calls of a burst
    packet_us: int  # stack: processing time per packet drained from a softirq backlog
    wakeup_us: tuple[int, ...]  # server application: from "readable" to running, when asleep
    accept_us: int  # server application: one accept() call
    behind_client: float = 0.0  # chance the server waits for the client program (per run)
    workers_behind_client: float = 0.0  # ... the same for worker threads blocked in accept()
    inline_packet_us: int = 0  # stack: per packet processed inside a process's own call
    slice_us: int = 1500  # ... for at most one scheduler slice (EEVDF base slice, 2 CPUs)
    warm_wakeup_us: int = 0  # a process that slept less than cold_after_us wakes this fast
    cold_after_us: int = 1000  # ... (an idle vCPU that halted longer wakes slowly: `wakeup_us`)
    # The client program's first call after it was idle `cold_after_us` or longer (the first
    # connect() of a burst) takes this much longer than `connect_gap_us`: its caches are cold
    # and its vCPU may have halted. Measured: 100-350 µs, where the calls after it take 12-27.
    cold_call_us: int = 0
    # Per kind of packet drained from a softirq backlog, in ns (a fraction of a µs matters
    # over a wave of hundreds); None: `packet_us`.
    syn_ns: int | None = None  # a SYN the listener answers (request sock or cookie SYN-ACK)
    synack_ns: int | None = None  # a SYN-ACK the client answers with its final ACK
    child_ns: int | None = None  # a final ACK (or cookie ACK) that creates a child
    drop_ns: int | None = None  # a SYN or final ACK the listener drops (a full accept queue)
    # The client program's own timers (its connect timeout): how late they fire, an empirical
    # distribution like `wakeup_us`. An event loop waits in epoll_wait(), whose timeout is
    # whole milliseconds rounded up, then wakes: 0.1-1 ms. It decides whether a client gives
    # up before or after a SYN retransmission due at the same second (the timer wheel fires
    # that 4-32 ms late at HZ 250, so the client mostly gives up first).
    timer_late_us: tuple[int, ...] = (0,)
    # How late a worker's sleep ends (its service time: time.sleep() in the lab's server, a
    # blocking call in a real one): the hrtimer's slack (50 µs for a normal task) plus the
    # wake-up; deciles like `wakeup_us`, for sleeps shorter than LONG_SLEEP_US and for longer
    # ones. A worker of "10ms" serves at 10.2 ms: a fixed service otherwise keeps a strict
    # period that a periodic attacker or client can stay in phase with, which no host does.
    sleep_late_us: tuple[int, ...] = (0,)
    long_sleep_late_us: tuple[int, ...] = (0,)

    def costs(self) -> "PacketCosts":
        """The softirq cost of each kind of packet in ns, `packet_us` where a kind is unset."""

        def cost(value: int | None) -> int:
            return self.packet_us * 1000 if value is None else value

        return PacketCosts(
            syn=cost(self.syn_ns),
            synack=cost(self.synack_ns),
            child=cost(self.child_ns),
            drop=cost(self.drop_ns),
            other=self.packet_us * 1000,
        )

    @property
    def ideal(self) -> bool:
        return (
            self.hz == 0
            and self.connect_gap_us == 0
            and self.packet_us == 0
            and not any((self.syn_ns, self.synack_ns, self.child_ns, self.drop_ns))
            and self.inline_packet_us == 0
            and not any(self.wakeup_us)
            and self.accept_us == 0
            and self.behind_client == 0
            and self.workers_behind_client == 0
            and self.warm_wakeup_us == 0
            and self.cold_call_us == 0
            and not any(self.timer_late_us)
            and not any(self.sleep_late_us)
            and not any(self.long_sleep_late_us)
        )


@dataclass(frozen=True)
class PacketCosts:
    """ns of softirq time per kind of packet (measured: a timer-driven wave of retransmitted
    SYNs, timestamped where the server's interface receives it, `tcpq lab calibrate`)."""

    syn: int
    synack: int
    child: int
    drop: int
    other: int  # data, FIN, RST: `packet_us`


# An infinitely fast host with ideal timers: the model of kernel-model §1–§8 alone, with the
# exact schedules of §3.5 and §5.1 (1, 3, 7 s ...). Tests that pin those schedules use it.
IDEAL_HOST = HostTiming(hz=0, connect_gap_us=0, packet_us=0, wakeup_us=(0,), accept_us=0)

# Measured by `tcpq lab calibrate` on the reference machine (2 vCPUs, Linux 6.18.44, HZ=250);
# the scenario defaults. docs/scenarios.md ("[host]") gives the figures and the command.
REFERENCE_HOST = HostTiming(
    hz=250,
    connect_gap_us=9,
    packet_us=2,
    syn_ns=2328,
    synack_ns=2568,
    child_ns=2438,
    drop_ns=989,
    inline_packet_us=6,
    wakeup_us=(266, 277, 285, 302, 321, 330, 345, 393, 517, 1354),
    accept_us=14,
    behind_client=0.7,
    workers_behind_client=0.5,  # measured 2026-12-03 evening: 4 of 8 runs of calibrate's probe
    slice_us=4217,
    warm_wakeup_us=30,
    cold_after_us=1000,
    cold_call_us=200,  # measured 2026-12-03 (the first call of 50 bursts of 50, median)
    timer_late_us=(132, 240, 432, 474, 516, 549, 611, 654, 765, 1012),
    # measured 2026-12-03: 50 sleeps of 2 ms and of 20 ms
    sleep_late_us=(82, 92, 102, 105, 110, 113, 115, 117, 122, 133),
    long_sleep_late_us=(146, 162, 167, 171, 179, 183, 190, 194, 205, 235),
)
