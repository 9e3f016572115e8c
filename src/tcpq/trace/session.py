"""The trace loop: one instance, its events attributed, and every second the counters beside them.

`TraceSession` is the reader API (the lab may use it to time its runs): enter it, call `run`
with a callback that receives `EventRecord`s, `Interval`s and `Lost` notices, get a `Summary`.
Events are read in batches every BATCH_S, so one table re-read serves a whole batch; an event's
time is the instance's CLOCK_MONOTONIC, compared with the moment counters were read, so each
event lands in the interval whose counters include it.
"""

import contextlib
import os
import platform
import select
import signal
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from tcpq.errors import TcpqError, Terminated
from tcpq.observe.netns import NetnsGone, NetnsRef, list_netns, proc_net_for, resolve_netns, run_in_netns
from tcpq.observe.procfs import read_counters
from tcpq.observe.snapshot import netns_label
from tcpq.records import frozen
from tcpq.trace import instance as tracefs
from tcpq.trace.attribute import Attribution, SocketIndex
from tcpq.trace.events import Kind, Lost, TraceEvent, parse_line
from tcpq.trace.plan import EVENTS, Plan, make_plan
from tcpq.trace.tally import (
    PAIRED_RESET,
    ListenerSummary,
    ListenerTally,
    NetnsInterval,
    NetnsTally,
    count_key,
    deltas,
)

BUFFER_KB = 1024  # per CPU: ≈10,000 events, a cushion of a second or more at 10k/s on 2 CPUs
BATCH_S = 0.1
INTERVAL_S = 1.0
READ_CHUNK = 1 << 20  # trace_pipe gives at most 8 KB a read(); asking for more costs nothing
READER_POLL_MS = 100  # the reader thread looks at its stop flag this often when the pipe is idle
# The reader thread needs the GIL for a moment after each read() (8 KB, ≈35 events); with the
# default 5 ms switch interval a main thread that never sleeps would let it read only ≈200
# times a second. 1 ms while tracing (restored after), as a margin: measured, 5 ms was still
# lossless at 2,800 connects/s (≈13,000 events/s), since the main thread sleeps between batches.
SWITCH_INTERVAL_S = 0.001
RESETS_REMEMBERED = 4096  # sent resets waiting for the drop of the same skb (abort_on_overflow)
KPTR_RESTRICT = Path("/proc/sys/kernel/kptr_restrict")


@frozen
class TraceOptions:
    port: int | None = None
    netns: str = "all"
    duration_s: float | None = None
    buffer_kb: int = BUFFER_KB
    interval_s: float = INTERVAL_S


@frozen
class Started:
    instance: str
    tracefs: str  # "private" or the host's mount point
    pointers: str  # "hashed", "raw" or "none": how events are matched with /proc/net/tcp
    kernel: str
    filters: dict[str, str]
    missing: list[str]


@frozen
class EventRecord:
    t: float  # seconds since the start
    event: TraceEvent
    where: Attribution
    paired_reset: bool  # a drop whose skb a reset answered, or that reset itself


@frozen
class Interval:
    t: float
    namespaces: list[NetnsInterval]


@frozen
class LostTotals:
    pipe: int  # "[LOST N EVENTS]" lines trace_pipe printed
    overrun: int  # per_cpu/*/stats
    dropped: int


@frozen
class Summary:
    duration_s: float
    events: int
    lost: LostTotals
    namespaces: list[NetnsInterval]
    listeners: list[ListenerSummary]


Record = Started | EventRecord | Interval | Lost


def _pointer_mode() -> tuple[str, bool]:
    """(mode, hash pointers in the trace): kptr_restrict 0 → both hashed alike; 1 → root reads raw
    pointers in /proc/net/tcp, so the instance prints raw ones too; 2 → /proc shows zeros."""
    try:
        level = int(KPTR_RESTRICT.read_text().strip())
    except (OSError, ValueError):
        level = 0
    if level == 0:
        return "hashed", True
    if level == 1:
        return "raw", False
    return "none", True


def _counters(ref: NetnsRef) -> dict[str, int]:
    if ref.is_self:
        return read_counters(Path("/proc/self/net"))
    proc_net = proc_net_for(ref)
    if proc_net is not None:
        return read_counters(proc_net)
    return run_in_netns(ref, lambda: read_counters(Path("/proc/thread-self/net")))


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so the instance is removed by the same `finally`."""
    handled = (signal.SIGTERM, signal.SIGHUP)

    def raise_terminated(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    previous = {sig: signal.signal(sig, raise_terminated) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class PipeReader:
    """Drains trace_pipe into memory in a thread of its own, so the kernel's buffer empties as
    fast as the kernel formats it, whatever the main thread is doing (re-reading socket tables,
    writing output): parsing and attribution work on what `take` returns, in batches."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._chunks: deque[bytes] = deque()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tcpq-trace-reader", daemon=True)
        self.bytes = 0

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        try:
            while not self._stop.is_set():
                if not poller.poll(READER_POLL_MS):
                    continue
                self._read_all()
        except BaseException as exc:  # handed to the main thread by `take`
            self._error = exc

    def _read_all(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, READ_CHUNK)
            except BlockingIOError:
                return
            if not chunk:
                return
            self._chunks.append(chunk)
            self.bytes += len(chunk)

    def take(self) -> bytes:
        """Everything read so far (deque.popleft is safe against the thread's appends)."""
        if self._error is not None:
            raise self._error
        chunks = []
        while self._chunks:
            chunks.append(self._chunks.popleft())
        return b"".join(chunks)

    def stop(self) -> bytes:
        """Stop the thread, then read what is left in the pipe; return what `take` would."""
        self.stop_quietly()
        self._read_all()
        return self.take()

    def stop_quietly(self) -> None:
        """Stop the thread only (cleanup after an error: nothing more is read)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


@dataclass
class _Run:
    """The loop's state between batches."""

    t0: float
    baseline: dict[int, dict[str, int]]
    last: dict[int, dict[str, int]]
    interval: dict[str, NetnsTally] = field(default_factory=dict)
    run: dict[str, NetnsTally] = field(default_factory=dict)
    listeners: ListenerTally = field(default_factory=ListenerTally)
    resets: OrderedDict[str, bool] = field(default_factory=OrderedDict)
    carry: list[TraceEvent] = field(default_factory=list)
    partial: bytes = b""
    labels: dict[int, str] = field(default_factory=dict)
    events: int = 0
    pipe_lost: int = 0
    reader: PipeReader | None = None
    stopped: bool = False


class TraceSession:
    """`with TraceSession(options) as session: summary = session.run(on_record)`."""

    def __init__(self, options: TraceOptions) -> None:
        self.options = options
        self._stack = contextlib.ExitStack()
        self._instance: tracefs.Instance | None = None
        self._plan: Plan | None = None
        self._index: SocketIndex | None = None
        self._scope: list[NetnsRef] | None = None  # None: every namespace, listed at each tick
        self.started: Started | None = None
        self.interrupted: KeyboardInterrupt | None = None
        """Set when Ctrl-C or SIGTERM ended `run`: the caller renders the summary, then re-raises."""

    def __enter__(self) -> "TraceSession":
        self._scope = None if self.options.netns == "all" else [resolve_netns(self.options.netns)]
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _open(self) -> None:
        fs = self._stack.enter_context(tracefs.open_tracefs())
        mode, hash_pointers = _pointer_mode()
        inst = tracefs.Instance(fs, tracefs.instance_name())
        self._stack.callback(inst.remove)
        inst.create(self.options.buffer_kb, hash_pointers)
        tracefs._write(inst.path / "tracing_on", "0")  # nothing recorded before the baseline
        formats = {name: f for system, name in EVENTS if (f := inst.format(system, name)) is not None}
        plan = make_plan(formats, self.options.port)
        for key, event_filter in plan.filters.items():
            inst.enable(key, event_filter)
        if (inst.path / "buffer_percent").exists():
            tracefs._write(inst.path / "buffer_percent", "0")  # poll() wakes on the first event
        self._instance, self._plan = inst, plan
        self._index = SocketIndex(use_pointers=mode != "none")
        self._index.refresh()
        where = "private" if fs.private else str(fs.root)
        self.started = Started(inst.name, where, mode, platform.release(), plan.filters, plan.missing)

    # -- counters -------------------------------------------------------------------------

    def _namespaces(self) -> list[NetnsRef]:
        return list(self._scope) if self._scope is not None else list_netns()

    def _read_counters(self) -> dict[int, tuple[str, dict[str, int]]]:
        out = {}
        for ref in self._namespaces():
            try:
                out[ref.inode] = (netns_label(ref), _counters(ref))
            except (NetnsGone, PermissionError, FileNotFoundError, ProcessLookupError):
                continue  # gone meanwhile: its events stay, its counters end with it
        return out

    # -- events ---------------------------------------------------------------------------

    def _drain(self, state: _Run, last: bool = False) -> list[TraceEvent]:
        assert state.reader is not None
        if last and not state.stopped:
            state.stopped = True
            data = state.partial + state.reader.stop()
        else:
            data = state.partial + state.reader.take()
        lines, _, state.partial = data.rpartition(b"\n")
        events = []
        for raw in lines.split(b"\n") if lines else []:
            parsed = parse_line(raw.decode("utf-8", errors="replace"))
            if isinstance(parsed, Lost):
                state.pipe_lost += parsed.count
            elif parsed is not None:
                events.append(parsed)
        return events

    def _paired(self, state: _Run, event: TraceEvent) -> bool:
        """A reset the listener sent for an skb (abort_on_overflow) pairs with that skb's drop."""
        if event.skb is None:
            return False
        if event.kind is Kind.RESET_SENT and event.remote is None:
            state.resets[event.skb] = True
            if len(state.resets) > RESETS_REMEMBERED:
                state.resets.popitem(last=False)
            return False
        return event.kind is Kind.DROP and state.resets.pop(event.skb, False)

    def _wanted(self, where: Attribution, event: TraceEvent) -> bool:
        if self._scope is not None and where.netns != netns_label(self._scope[0]):
            return False
        port = self.options.port
        if port is None:
            return True
        if where.listener is not None:
            return where.listener.port == port
        ends = [end.port for end in (event.local, event.remote) if end is not None]
        return port in ends

    def _handle(self, state: _Run, events: list[TraceEvent], emit: Callable[[Record], None]) -> None:
        assert self._index is not None
        fresh = [event for event in events if event.ts >= state.t0]
        for event, where in zip(fresh, self._index.attribute(fresh), strict=True):
            paired = self._paired(state, event)
            if not self._wanted(where, event):
                continue
            state.events += 1
            emit(EventRecord(event.ts - state.t0, event, where, paired))
            keys = [count_key(event), PAIRED_RESET if paired else None]
            netns = where.netns or "unknown"
            for key in filter(None, keys):
                for tallies in (state.interval, state.run):
                    tallies.setdefault(netns, NetnsTally(netns)).add(key, where)
                state.listeners.add(key, where)

    # -- the loop -------------------------------------------------------------------------

    def _tick(self, state: _Run, emit: Callable[[Record], None], last: bool = False) -> float:
        """Counters now, then every event up to now, then the interval's rows."""
        now_counters = self._read_counters()
        now = time.monotonic()
        events = state.carry + self._drain(state, last)
        state.carry = [event for event in events if event.ts > now]
        self._handle(state, [event for event in events if event.ts <= now], emit)
        rows = []
        for inode, (label, values) in sorted(now_counters.items(), key=lambda item: item[1][0]):
            before = state.last.get(inode, {})  # a namespace new since the start: from zero
            state.last[inode] = values
            state.labels[inode] = label
            tally = state.interval.pop(label, NetnsTally(label))
            row = tally.close(deltas(before, values), self._reasons_known)
            if any(row.counters.values()) or row.events:
                rows.append(row)
                state.listeners.add_syn_time(row)
        state.interval.clear()
        emit(Interval(now - state.t0, rows))
        return now

    @property
    def _reasons_known(self) -> bool:
        return self._plan is not None and self._plan.listen_overflow_reason is not None

    def run(self, emit: Callable[[Record], None], flush: Callable[[], None] | None = None) -> Summary:
        """Trace until the duration ends or Ctrl-C/SIGTERM (re-raised after the summary is made:
        the caller renders it, then exits 130/143). `flush`, if given, is called after each
        batch of records (a printer may buffer its lines until then)."""
        assert self._instance is not None
        with _terminate_as_interrupt():
            first = self._read_counters()
            start = {inode: values for inode, (_, values) in first.items()}
            state = _Run(time.monotonic(), start, dict(start))
            state.labels = {inode: label for inode, (label, _) in first.items()}
            state.reader = PipeReader(self._instance.open_pipe())
            switch = sys.getswitchinterval()
            sys.setswitchinterval(min(switch, SWITCH_INTERVAL_S))
            try:
                state.reader.start()
                assert self.started is not None
                emit(self.started)  # from here on every event is recorded: a caller may start traffic
                interrupted: KeyboardInterrupt | None = None
                end = state.t0
                try:
                    end = self._loop(state, emit, flush or _nothing)
                except KeyboardInterrupt as exc:
                    interrupted = exc
                    end = self._tick(state, emit, last=True)
            finally:
                state.reader.stop_quietly()
                sys.setswitchinterval(switch)
            if flush is not None:
                flush()
            summary = self._summary(state, end)
        self.interrupted = interrupted
        return summary

    def _loop(self, state: _Run, emit: Callable[[Record], None], flush: Callable[[], None]) -> float:
        duration = self.options.duration_s
        deadline = None if duration is None else state.t0 + duration
        next_tick = state.t0 + self.options.interval_s
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return self._tick(state, emit, last=True)
            if now >= next_tick:
                self._tick(state, emit)
                flush()
                next_tick += self.options.interval_s
                if next_tick < time.monotonic():  # a slow tick: skip, never run ticks back to back
                    next_tick = time.monotonic() + self.options.interval_s
                continue
            wake = min(next_tick, deadline) if deadline is not None else next_tick
            time.sleep(max(0.0, min(BATCH_S, wake - now)))  # the reader thread gathers a batch
            events = state.carry + self._drain(state)
            assert self._index is not None
            if self._index.ready(events):
                state.carry = []
                self._handle(state, events, emit)
                flush()
            else:  # sockets not in the tables yet, re-read too recently: wait a batch
                state.carry = events

    def _summary(self, state: _Run, end: float) -> Summary:
        assert self._instance is not None
        overrun, dropped = self._instance.lost()
        rows = []
        for inode, values in sorted(state.last.items(), key=lambda item: state.labels.get(item[0], "")):
            label = state.labels.get(inode, "")
            tally = state.run.pop(label, NetnsTally(label))
            row = tally.close(deltas(state.baseline.get(inode, {}), values), self._reasons_known)
            if any(row.counters.values()) or row.events:
                rows.append(row)
        for _, tally in sorted(state.run.items()):  # events of namespaces without counters
            rows.append(tally.close(deltas({}, {}), self._reasons_known))
        return Summary(
            end - state.t0,
            state.events,
            LostTotals(state.pipe_lost, overrun, dropped),
            rows,
            state.listeners.summaries(),
        )


def _nothing() -> None:
    pass


def check_options(port: int | None, duration_s: float | None) -> None:
    if port is not None and not 1 <= port <= 65535:
        raise TcpqError(f"--port {port}: give a port from 1 to 65535")
    if duration_s is not None and duration_s <= 0:
        raise TcpqError("--duration must be above 0, e.g. 10s")
