"""The event core: a heap of (time, sequence, action, argument), in integer microseconds.

The sequence number breaks ties in scheduling order, so a run is a pure function of its
scenario and seed (SimPy's core, without processes). Cancelled timers are not removed: their
handlers check the state they were armed for and return (cheaper than heap deletion).
"""

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

Action = Callable[[Any], None]


class Engine:
    __slots__ = ("_heap", "_seq", "now")

    def __init__(self) -> None:
        self.now = 0
        self._heap: list[tuple[int, int, Action, Any]] = []
        self._seq = 0

    def at(self, when: int, action: Action, arg: Any = None) -> None:
        """Run `action(arg)` at time `when` (never before now)."""
        heappush(self._heap, (when if when > self.now else self.now, self._seq, action, arg))
        self._seq += 1

    def run(self, until: int, on_progress: Callable[[int], None] | None = None, every: int = 0) -> None:
        """Process events with time <= until; report progress every `every` µs of simulated time."""
        heap = self._heap
        next_report = every if on_progress is not None and every > 0 else until + 1
        while heap and heap[0][0] <= until:
            when, _, action, arg = heappop(heap)
            if when >= next_report and on_progress is not None:
                on_progress(when)
                next_report = when + every
            self.now = when
            action(arg)
        self.now = until

    @property
    def pending(self) -> int:
        return len(self._heap)
