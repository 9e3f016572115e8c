"""How clients reach the simulated client program: arrival times fed one at a time (`Feeder`),
and the program that makes one connect() call at a time (`ClientProgram`, model/timing.py)."""

from collections import deque
from collections.abc import Callable

import numpy as np

from tcpq.model.timing import HostTiming
from tcpq.sim.conn import Conn, GroupPlan
from tcpq.sim.engine import Engine
from tcpq.sim.world import World


class Feeder:
    """Calls `start(index)` for each arrival, scheduling one at a time, so the heap holds one
    pending arrival per feeder; arrivals at the same instant (a burst) start back to back.

    The times stay in their numpy array (8 bytes each) and become Python ints a chunk at a
    time: a list of all of them would take 36 bytes an arrival (720 MB for 20 million)."""

    CHUNK = 4096

    def __init__(self, engine: Engine, times: np.ndarray, start: Callable[[int], None]) -> None:
        self.engine = engine
        self.all_times = times
        self.start = start
        self.index = 0  # of the next arrival, over all chunks
        self.chunk: list[int] = []
        self.offset = 0  # of the next arrival in the chunk
        if self._load():
            engine.at(self.chunk[0], self._arrive)

    def _load(self) -> bool:
        """The next chunk of times (from `index`); False when none are left."""
        self.chunk = self.all_times[self.index : self.index + self.CHUNK].tolist()
        self.offset = 0
        return bool(self.chunk)

    def _arrive(self, _: object) -> None:
        now = self.engine.now
        start = self.start
        chunk, offset = self.chunk, self.offset
        while True:
            if offset == len(chunk):
                if not self._load():
                    return
                chunk, offset = self.chunk, 0
            when = chunk[offset]
            if when > now:
                break
            start(self.index)
            self.index += 1
            offset += 1
        self.offset = offset
        self.engine.at(when, self._arrive)


class ClientProgram:
    """The client program: one connect() call at a time (model/timing.py). A call takes
    `connect_gap_us`, plus `inline_packet_us` for each packet the stack processes inside it (on an
    idle link the whole handshake, kernel-model §14.2), so a burst of N clients takes at least
    N gaps to issue, longer when every handshake completes inside its call; its first call
    after the program was idle takes `cold_call_us` longer."""

    def __init__(self, world: World, timing: HostTiming) -> None:
        self.world = world
        self.gap = timing.connect_gap_us
        self.packet_us = timing.inline_packet_us
        world.client.call_gap = timing.connect_gap_us
        world.client.cold_call = timing.cold_call_us
        world.client.cold_after = timing.cold_after_us
        self.waiting: deque[Conn] = deque()  # clients whose connect() the program has yet to call
        self.busy = False
        self.next_id = 0

    def starter(self, plan: GroupPlan, sources: int) -> Callable[[int], None]:
        """Start the index-th client of a group, its source address taken round-robin."""
        world = self.world
        addresses = [world.new_address() for _ in range(sources)]

        def start(index: int) -> None:
            conn = Conn(id=self.next_id, plan=plan, start=0, addr=addresses[index % len(addresses)])
            self.next_id += 1
            self.waiting.append(conn)
            world.client.connects_queued = True
            if not self.busy:
                self.busy = True
                # An event even when due now: the feeder first queues the whole burst, so the
                # program is known to be busy (ServerApp.wake_at).
                world.engine.at(max(world.engine.now, world.client.program_free_at), self._connect)
            self._announce_busy()

        return start

    def _announce_busy(self) -> None:
        client = self.world.client
        client.program_busy_until = (
            max(client.program_free_at, self.world.engine.now) + len(self.waiting) * self.gap
        )

    def _connect(self, _: object) -> None:
        world = self.world
        conn = self.waiting.popleft()
        now = world.engine.now
        conn.start = now
        before = world.link.inline_packets
        world.client.start(conn)
        inline = world.link.inline_packets - before
        world.client.end_call(now, self.gap + inline * self.packet_us)
        if self.waiting:
            world.engine.at(world.client.program_free_at, self._connect)
        else:
            self.busy = False
            world.client.connects_done()
        self._announce_busy()
