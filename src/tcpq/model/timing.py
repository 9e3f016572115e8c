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


def msecs_to_jiffies_us(delay_us: int, tick_us: int) -> int:
    """A delay in whole jiffies, rounded up as msecs_to_jiffies()/usecs_to_jiffies() do."""
    return -(-delay_us // tick_us)


def timer_wheel_expiry(now_us: int, delay_us: int, hz: int) -> int:
    """When a `mod_timer(t, jiffies + delay)` armed at `now_us` really fires, in µs.

    calc_wheel_index(): the level is chosen by the delta; calc_index() rounds the expiry up to
    the next multiple of that level's granularity ("a timer never fires early"). hz = 0 means
    ideal timers (no tick): the model's exact schedule.
    """
    if hz <= 0 or delay_us <= 0:
        return now_us + max(0, delay_us)
    tick_us = 1_000_000 // hz
    now_j = now_us // tick_us
    delta = msecs_to_jiffies_us(delay_us, tick_us)
    expires = now_j + delta
    level = 0
    while level < LVL_DEPTH - 1 and delta >= _level_start(level + 1):
        level += 1
    shift = level * LVL_CLK_SHIFT
    bucket = ((expires >> shift) + 1) << shift
    return bucket * tick_us


@dataclass(frozen=True)
class HostTiming:
    """The host's speed, in µs (scenario `[host]`, `tcpq lab calibrate`).

    `wakeup_us` is an empirical distribution (quantiles, drawn uniformly): a sleeping process's
    wake-up latency on a virtual machine is bimodal, and one number would hide that.
    """

    hz: int  # CONFIG_HZ: the timer wheel's tick (0: ideal timers)
    connect_gap_us: int  # one client program: time between two connect() calls of a burst
    packet_us: int  # stack: processing time per packet drained from a softirq backlog
    wakeup_us: tuple[int, ...]  # server application: from "readable" to running, when asleep
    accept_us: int  # server application: one accept() call

    @property
    def ideal(self) -> bool:
        return (
            self.hz == 0
            and self.connect_gap_us == 0
            and self.packet_us == 0
            and not any(self.wakeup_us)
            and self.accept_us == 0
        )


# An infinitely fast host with ideal timers: the model of kernel-model §1–§8 alone, with the
# exact schedules of §3.5 and §5.1 (1, 3, 7 s ...). Tests that pin those schedules use it.
IDEAL_HOST = HostTiming(hz=0, connect_gap_us=0, packet_us=0, wakeup_us=(0,), accept_us=0)

# Measured by `tcpq lab calibrate` on the reference machine (2 vCPUs, Linux 6.18.44, HZ=250);
# the scenario defaults. docs/scenarios.md ("[host]") gives the figures and the command.
REFERENCE_HOST = HostTiming(
    hz=250, connect_gap_us=40, packet_us=5, wakeup_us=(100, 150, 1000, 1500), accept_us=15
)
