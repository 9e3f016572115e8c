"""The lab's client load generator, run inside the client namespace.

`python -m tcpq.lab.clients CONFIG` reads a JSON config (arrival times already drawn by tcpq
with the scenario's seed, so lab and simulation see the same arrivals), waits for "go" on
stdin, then runs every attempt with non-blocking sockets in one selector loop and prints one
JSON object with each attempt's outcome and times. Bounded: it makes at most the given attempts
and stops at the scenario's duration.
"""

import contextlib
import errno
import heapq
import json
import selectors
import socket
import sys
import time
from dataclasses import dataclass, field

REQUEST = b"GET\n"
LINGER_S = 60.0
OUTCOME_BY_ERRNO = {
    errno.ECONNREFUSED: "refused",
    errno.ETIMEDOUT: "timed_out",
    errno.ECONNRESET: "reset",
    errno.EADDRNOTAVAIL: "no_port",
    errno.EHOSTUNREACH: "refused",
}


@dataclass
class Attempt:
    group: int
    start: float
    sock: socket.socket | None = None
    state: str = "new"  # new → connecting → connected → (waiting) → done
    outcome: str | None = None
    connect_s: float | None = None
    response_s: float | None = None


@dataclass
class Group:
    times_s: list[float]
    connect_timeout_s: float | None
    request: bool
    request_after_s: float
    close_after_s: float | None


@dataclass
class Run:
    address: str
    port: int
    duration_s: float
    groups: list[Group]
    attempts: list[Attempt] = field(default_factory=list)
    timers: list[tuple[float, int, str, int]] = field(default_factory=list)
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    t0: float = 0.0
    seq: int = 0

    def at(self, when: float, action: str, index: int) -> None:
        self.seq += 1
        heapq.heappush(self.timers, (when, self.seq, action, index))

    def finish(self, attempt: Attempt, outcome: str) -> None:
        attempt.outcome = outcome
        attempt.state = "done"
        self.close(attempt)

    def close(self, attempt: Attempt) -> None:
        if attempt.sock is not None:
            with contextlib.suppress(KeyError, ValueError):  # never registered, or already unregistered
                self.selector.unregister(attempt.sock)
            attempt.sock.close()
            attempt.sock = None

    def start(self, index: int, now: float) -> None:
        attempt = self.attempts[index]
        group = self.groups[attempt.group]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        attempt.sock = sock
        code = sock.connect_ex((self.address, self.port))
        if code not in (0, errno.EINPROGRESS):
            self.finish(attempt, OUTCOME_BY_ERRNO.get(code, "refused"))
            return
        attempt.state = "connecting"
        self.selector.register(sock, selectors.EVENT_WRITE, index)
        if group.connect_timeout_s is not None:
            self.at(now + group.connect_timeout_s, "connect_timeout", index)

    def on_event(self, index: int, now: float) -> None:
        attempt = self.attempts[index]
        sock = attempt.sock
        if sock is None:
            return
        group = self.groups[attempt.group]
        if attempt.state == "connecting":
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self.finish(attempt, OUTCOME_BY_ERRNO.get(code, "refused"))
                return
            attempt.state = "connected"
            attempt.connect_s = now - attempt.start
            self.selector.modify(sock, selectors.EVENT_READ, index)
            if group.request:
                self.at(now + group.request_after_s, "send", index)
            else:
                attempt.outcome = "connected"
                if group.close_after_s is not None:
                    self.at(now + group.close_after_s, "close", index)
            return
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError as exc:  # ECONNRESET: an overflowed handshake reset, or the request expired
            self.finish(attempt, OUTCOME_BY_ERRNO.get(exc.errno or 0, "reset"))
            return
        if not data:
            self.selector.unregister(sock)  # the server closed; keep ours until close_after
            return
        if group.request and attempt.response_s is None:
            attempt.response_s = now - attempt.start
            attempt.outcome = "connected"
            close_after = group.close_after_s
            if close_after is not None:
                self.at(now + close_after, "close", index)

    def on_timer(self, action: str, index: int) -> None:
        attempt = self.attempts[index]
        if attempt.sock is None:
            return
        if action == "connect_timeout" and attempt.state == "connecting":
            self.finish(attempt, "timed_out")
        elif action == "send" and attempt.state == "connected":
            try:
                attempt.sock.send(REQUEST)
            except OSError as exc:
                self.finish(attempt, OUTCOME_BY_ERRNO.get(exc.errno or 0, "reset"))
        elif action == "close":
            outcome = attempt.outcome
            self.close(attempt)
            attempt.state = "done"
            attempt.outcome = outcome

    def run(self) -> None:
        arrivals = sorted((t, gi) for gi, group in enumerate(self.groups) for t in group.times_s)
        self.attempts = [Attempt(group=gi, start=0.0) for _, gi in arrivals]
        self.t0 = time.monotonic()
        deadline = self.t0 + self.duration_s
        for index, (t, _) in enumerate(arrivals):
            self.at(self.t0 + t, "start", index)
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            while self.timers and self.timers[0][0] <= now:
                _, _, action, index = heapq.heappop(self.timers)
                if action == "start":
                    self.attempts[index].start = now
                    self.start(index, now)
                else:
                    self.on_timer(action, index)
            wait = min(self.timers[0][0] if self.timers else deadline, deadline) - time.monotonic()
            for key, _ in self.selector.select(max(0.0, min(wait, 0.05))):
                self.on_event(key.data, time.monotonic())

    def report(self) -> dict[str, object]:
        counts: dict[str, int] = {}
        for attempt in self.attempts:
            outcome = attempt.outcome or "pending"
            if attempt.state != "done" and attempt.outcome is None:
                outcome = "pending"
            counts[outcome] = counts.get(outcome, 0) + 1
        return {
            "attempted": len(self.attempts),
            "outcomes": counts,
            "connect_s": [a.connect_s for a in self.attempts if a.connect_s is not None],
            "response_s": [a.response_s for a in self.attempts if a.response_s is not None],
            "connected_at_s": sorted(
                a.start - self.t0 + a.connect_s for a in self.attempts if a.connect_s is not None
            ),
        }


def main() -> None:
    config = json.loads(sys.argv[1])
    groups = [Group(**g) for g in config["groups"]]
    runner = Run(
        address=config["address"], port=config["port"], duration_s=config["duration_s"], groups=groups
    )
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    runner.run()
    json.dump(runner.report(), sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()
    # Keep every socket as it is until tcpq, having read the counters, ends this process:
    # closing here would add teardown to the run's counters. Bounded: tcpq kills us long before.
    time.sleep(LINGER_S)


if __name__ == "__main__":
    main()
