"""The event core, in integer microseconds: SimPy's heap of (time, sequence, action, argument).

The sequence number breaks ties in scheduling order, so a run is a pure function of its
scenario and seed. Cancelled timers are not removed: their handlers check the state they were
armed for and return (cheaper than heap deletion).

Most events are scheduled a *fixed delay* after now: SYN and SYN-ACK retransmissions (1, 2,
4 ... s), the one-way link delay, application timeouts. Events with the same delay are born in
time order, so each delay gets a FIFO lane instead of the heap; a small heap of lane heads picks
the next one. Order is still exactly (time, sequence). With a million pending SYN timers this
halves the cost of scheduling (docs/benchmarks.md).

Kernel timers fire on timer-wheel boundaries (model/timing.py), so many of them share one
absolute expiry: `at_bucket` gives each such instant a lane of its own (a bucket; times all
equal), removed once it has run.

An event before now is refused with ValueError (SimPy's "Negative delay"), never moved to now:
a time in the past is a caller's bug, and a caller that means "now, if that time has passed"
says `max(when, engine.now)`.

A handler about to schedule its own continuation (the softirq draining its backlog packet by
packet) may ask `advance_to` first: when nothing pending would run before it, the clock moves
there and the handler goes on, the run exactly as if the continuation had been scheduled and
dispatched (it takes the sequence number the continuation would have had).
"""

from collections import deque
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

Action = Callable[[Any], object]  # what an action returns is ignored (a packet handler returns its cost)
Event = tuple[int, int, Action, Any]
MAX_LANES = 256  # distinct delays given a lane; others (e.g. random service times) use the heap


def _past(when: int, now: int) -> ValueError:
    return ValueError(f"event scheduled in the past: {when} < {now}")


class Engine:
    __slots__ = ("_delay_lanes", "_heads", "_heap", "_lanes", "_report_at", "_seq", "_until", "now")

    def __init__(self) -> None:
        self.now = 0
        self._heap: list[Event] = []
        self._lanes: dict[int, deque[Event]] = {}
        self._heads: list[tuple[int, int, int]] = []  # (time, seq, delay) of each non-empty lane's head
        self._seq = 0
        self._delay_lanes = 0
        self._until = -1  # the running `run`'s end (none yet: nothing may advance)
        self._report_at = 0  # ... and the time of its next progress report

    def at(self, when: int, action: Action, arg: Any = None) -> None:
        """Run `action(arg)` at time `when`, now or later."""
        if when < self.now:
            raise _past(when, self.now)
        heappush(self._heap, (when, self._seq, action, arg))
        self._seq += 1

    def after(self, delay: int, action: Action, arg: Any = None) -> None:
        """Run `action(arg)` `delay` µs from now (the common case: a FIFO lane per delay)."""
        lane = self._lanes.get(delay)
        if lane is None:
            if self._delay_lanes >= MAX_LANES or delay < 0:  # a negative delay: `at` refuses it
                self.at(self.now + delay, action, arg)
                return
            lane = self._lanes[delay] = deque()
            self._delay_lanes += 1
        when = self.now + delay
        seq = self._seq
        self._seq = seq + 1
        if not lane:
            heappush(self._heads, (when, seq, delay))
        lane.append((when, seq, action, arg))

    def at_bucket(self, when: int, action: Action, arg: Any = None) -> None:
        """Run `action(arg)` at `when`, an instant many events share (a timer-wheel bucket)."""
        if when < self.now:
            raise _past(when, self.now)
        key = -1 - when  # delays are >= 0: negative keys are buckets
        lane = self._lanes.get(key)
        seq = self._seq
        self._seq = seq + 1
        if lane is None:
            lane = self._lanes[key] = deque()
        if not lane:
            heappush(self._heads, (when, seq, key))
        lane.append((when, seq, action, arg))

    def advance_to(self, when: int) -> bool:
        """Move the clock to `when`, for the calling handler's own continuation, if no pending
        event would run before that continuation (time `when`, the next sequence number): True
        then, and the caller goes on at once instead of scheduling it. False when any pending
        event is due at or before `when`, when `when` is past the run's end, or when a progress
        report falls due (the continuation is scheduled as usual then)."""
        if when > self._until or when >= self._report_at:
            return False
        heads, heap = self._heads, self._heap
        if (heads and heads[0][0] <= when) or (heap and heap[0][0] <= when):
            return False
        self.now = when
        self._seq += 1
        return True

    def run(self, until: int, on_progress: Callable[[int], None] | None = None, every: int = 0) -> None:
        """Process events with time <= until; report progress every `every` µs of simulated time."""
        heap, heads, lanes = self._heap, self._heads, self._lanes
        next_report = every if on_progress is not None and every > 0 else until + 1
        self._until, self._report_at = until, next_report
        while True:
            # The next event is the earlier (time, seq) of the heap top and the first lane head.
            if heads:
                head = heads[0]
                from_lane = not heap or head < heap[0][:2]
            elif heap:
                from_lane = False
            else:
                break
            if from_lane:
                when = head[0]
                if when > until:
                    break
                heappop(heads)
                lane = lanes[head[2]]
                event = lane.popleft()
                if lane:
                    following = lane[0]
                    heappush(heads, (following[0], following[1], head[2]))
                elif head[2] < 0:
                    del lanes[head[2]]  # a bucket runs once
            else:
                when = heap[0][0]
                if when > until:
                    break
                event = heappop(heap)
            if when >= next_report and on_progress is not None:
                on_progress(when)
                next_report = self._report_at = when + every
            self.now = when
            event[2](event[3])
        self.now = until
        self._until = -1

    @property
    def pending(self) -> int:
        return len(self._heap) + sum(len(lane) for lane in self._lanes.values())
