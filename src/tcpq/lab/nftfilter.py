"""[network.filter] in the lab: one `nft -i` process in the server namespace switches the rule.

The rule is the experiments' (kernel-model §16): drop the client's bare ACKs, or every segment
without SYN, to the server port, on the server namespace's input hook, from `from` until
`until` after the lab's shared start T0 (runner.py). Nothing here touches the host namespace:
the table lives in the server namespace and vanishes with it.
"""

import contextlib
import os
import re
import select
import threading
import time
from dataclasses import dataclass

from tcpq.errors import TcpqError
from tcpq.lab import sandbox
from tcpq.model.constants import US_PER_S as US
from tcpq.scenario import Scenario

NFT_TABLE = "tcpqlab"
NFT_ACK_TIMEOUT_S = 2.0
NFT_NICE = -10  # the filter's nft process and switching thread only, as the link's relay
HANDLE_RE = re.compile(rf"add rule inet {NFT_TABLE} in .* # handle (\d+)")


def _filter_match(scenario: Scenario) -> str:
    """The nft match for [network.filter], as in kernel-model §16's experiments."""
    rule = scenario.network.filter
    assert rule is not None
    port = f"tcp dport {scenario.server.port}"
    if rule.drop == "non_syn":
        return f"{port} tcp flags & syn == 0"
    # A bare ACK: no SYN, FIN or RST and no payload (20 B IP + at most 32 B TCP with timestamps).
    return f"{port} tcp flags & (syn|fin|rst) == 0 ip length <= 52"


def active_window(scenario: Scenario) -> tuple[int, int | None] | None:
    """[network.filter]'s window within the run, as the simulator applies it: [from, until) in
    µs after T0, until None when it lasts to the end; None when it is empty within the run."""
    rule = scenario.network.filter
    assert rule is not None
    until = None if rule.until is None or rule.until >= scenario.duration else rule.until
    if rule.from_ >= (scenario.duration if until is None else until):
        return None
    return rule.from_, until


@dataclass
class Switch:
    """One switch of the filter rule: due at T0 + due_s; written and acknowledged when (from T0)."""

    name: str  # "on" | "off"
    due_s: float
    written_s: float | None = None
    acked_s: float | None = None
    error: str = ""
    before_start: bool = False  # due at 0: committed before "go T0" was sent


class FilterSwitch:
    """[network.filter] switched on and off by one `nft -i` process in the server namespace.

    Starting `ip netns exec … nft` at a switch time costs a process start, tens of milliseconds
    under load, so the rule arrived late. Instead `nft -e -a -i` is started before the run (by
    Namespace.spawn: it dies with tcpq and is stopped with the lab); the table, the chain and a
    rule due at 0 are added before T0 and acknowledged, so they are in place before the first
    SYN. At a switch time the runner only writes a prepared line to its stdin (add the rule, or
    delete it by its handle): `nft -i` reads line by line and commits each line as one
    transaction as it arrives (tests/lab/test_timing.py checks it), and `-e` echoes what the
    kernel committed: that echo is the acknowledgement whose time the notes report.
    (nft's `meta time` would bound the rule without any command, but it reads CLOCK_REALTIME,
    not the lab's CLOCK_MONOTONIC T0.)
    """

    def __init__(self, ns: sandbox.Namespace, scenario: Scenario) -> None:
        rule = scenario.network.filter
        assert rule is not None
        self.drop = rule.drop
        self.rule = f"add rule inet {NFT_TABLE} in {_filter_match(scenario)} drop"
        self.handle: str | None = None
        self.pending = b""
        self.acks = 0
        window = active_window(scenario)
        self.switches = []
        if window is not None:
            from_us, until_us = window
            self.switches.append(Switch("on", from_us / US))
            if until_us is not None:
                self.switches.append(Switch("off", until_us / US))
        self.proc = ns.spawn(["nft", "-e", "-a", "-i"], stdin=True)
        with contextlib.suppress(OSError):  # no CAP_SYS_NICE: the default priority
            os.setpriority(os.PRIO_PROCESS, self.proc.pid, NFT_NICE)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def command(self, line: str) -> str:
        """Write one line to nft and wait (bounded) until it is committed; the echoed text.

        Deletions echo nothing, so each line carries a rule with a numbered comment into the
        never-evaluated `ack` chain: one line is one transaction, and its echo comes once the
        kernel has committed the whole line.
        """
        proc = self.proc
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self.acks += 1
        marker = f'comment "tcpq ack {self.acks}"'
        try:
            proc.stdin.write(f"{line}; add rule inet {NFT_TABLE} ack counter {marker}\n".encode())
            proc.stdin.flush()
        except BrokenPipeError:
            raise TcpqError(f"nft -i in the server namespace ended: {self._stderr()}") from None
        out, err = proc.stdout.fileno(), proc.stderr.fileno()
        deadline = time.monotonic() + NFT_ACK_TIMEOUT_S
        end = -1
        while end < 0:
            remaining = deadline - time.monotonic()
            ready = select.select([out, err], [], [], remaining)[0] if remaining > 0 else []
            if not ready:
                raise TcpqError(f"nft -i did not commit `{line}` within {NFT_ACK_TIMEOUT_S:g} s")
            if err in ready:
                raise TcpqError(f"nft -i refused `{line}`: {self._stderr()}")
            data = os.read(out, 65536)
            if not data:
                raise TcpqError(f"nft -i in the server namespace ended: {self._stderr()}")
            self.pending += data
            found = self.pending.find(marker.encode())
            end = self.pending.find(b"\n", found) if found >= 0 else -1
        text, self.pending = self.pending[: end + 1], self.pending[end + 1 :]
        return text.decode(errors="replace")

    def _stderr(self) -> str:
        assert self.proc.stderr is not None
        ready = select.select([self.proc.stderr], [], [], 0.1)[0]
        text = os.read(self.proc.stderr.fileno(), 65536).decode(errors="replace") if ready else ""
        return " ".join(text.split()) or "no message"

    def prepare(self) -> None:
        """The table and chains, and the rule if it is due at 0: committed before T0."""
        self.command(
            f"add table inet {NFT_TABLE}; add chain inet {NFT_TABLE} in "
            f"{{ type filter hook input priority 0; }}; add chain inet {NFT_TABLE} ack"
        )
        first = self.switches[0] if self.switches else None
        if first is not None and first.name == "on" and first.due_s <= 0:
            self._add_rule(self.command(self.rule))
            first.before_start = True

    def _add_rule(self, echo: str) -> None:
        match = HANDLE_RE.search(echo)
        self.handle = match.group(1) if match else None

    def _switch(self, switch: Switch, t0: float) -> None:
        if switch.name == "off" and self.handle is None:
            switch.error = "the rule was never added"
            return
        line = self.rule if switch.name == "on" else f"delete rule inet {NFT_TABLE} in handle {self.handle}"
        switch.written_s = time.monotonic() - t0
        try:
            echo = self.command(line)
        except TcpqError as exc:
            switch.error = str(exc)
            return
        switch.acked_s = time.monotonic() - t0
        if switch.name == "on":
            self._add_rule(echo)

    def _run(self, t0: float) -> None:
        with contextlib.suppress(OSError):  # this thread only: it wakes on time under load
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NFT_NICE)
        for switch in self.switches:
            if switch.before_start:
                continue  # done in prepare()
            if self._stop.wait(max(0.0, t0 + switch.due_s - time.monotonic())):
                return
            self._switch(switch, t0)

    def start(self, t0: float) -> None:
        """Switch at t0 + each time (t0: the lab's shared time.monotonic() start)."""
        self._thread = threading.Thread(target=self._run, args=(t0,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=NFT_ACK_TIMEOUT_S + 1)

    def notes(self) -> list[str]:
        parts = []
        for switch in self.switches:
            if switch.error:
                parts.append(f"{switch.name} at {switch.due_s:g} s FAILED ({switch.error})")
            elif switch.before_start:
                parts.append(f"{switch.name} from 0 s (in place before T0)")
            elif switch.acked_s is None:
                parts.append(f"{switch.name} at {switch.due_s:g} s not reached")
            else:
                late_ms = (switch.acked_s - switch.due_s) * 1000  # the echo read: an upper bound
                parts.append(f"{switch.name} at {switch.due_s:g} s, committed by +{late_ms:.2f} ms")
        done = "; ".join(parts) or "never active within the run"
        return [f"filter {self.drop} (nft -i in the server namespace): {done}"]
