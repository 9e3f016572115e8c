"""[attack] in the lab: spoofed SYNs from an attacker namespace, as the simulator sends them.

The lab's runner calls, in this order: `LabAttack.start()` (after the server listens, before the
counters are read: it adds the attacker namespace, the rule that swallows the server's SYN-ACKs
to the spoofed sources, and starts the attacker program, which builds its first packets and
says "ready"), `go(t0)` right after the clients' "go" with the same shared start T0 (each SYN
leaves at T0 + its time), `finish()` once the duration is over (bounded wait for the attacker's
report), and `apply()` on the RunResult (attack_syns, notes).

Where the traffic goes (all of it inside tcpq's namespaces): the attacker program sends from
`tcpq-<pid>-atk` over its own veth to the server's address with sources in 127.1.0.0/16. The
server namespace accepts those sources on that veth only (`route_localnet`, sandbox). Its
SYN-ACKs to 127.1.0.0/16 route to its own loopback (127.0.0.0/8 is local) and are dropped there
by an nft rule on the input hook: sending them succeeds, so the request timer sees a successful
SYN-ACK retransmission (kernel-model §3.2: a failed one would unlink the request at 1 s), yet no
spoofed peer ever answers or resets, so the requests stay half-open until they expire (§3.5).
"""

import select
import subprocess
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from tcpq.errors import TcpqError
from tcpq.lab import sandbox
from tcpq.lab.wire import AttackConfig, AttackReport, go_line
from tcpq.model.constants import US_PER_S as US
from tcpq.run.arrivals import arrival_times
from tcpq.scenario import Scenario
from tcpq.types import RunResult

SPOOFED_NET = "127.1.0.0/16"  # the attacker program's sources (attacker.SOURCE_NET)
NFT_TABLE = "tcpqatk"
READY_TIMEOUT_S = 30.0
REPORT_TIMEOUT_S = 10.0  # after the duration: the attacker stops sending 0.2 s after it
LIFETIME_MARGIN_S = 60.0  # the attacker exits by itself this long after the duration at the latest
LATE_NOTE_S = 0.01  # mean lateness worth a note


def attack_times(scenario: Scenario, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """The attack's SYN times (µs). Draw them from the rng that has just drawn the client groups,
    in the scenario's order, as sim/runner.py does, so lab and simulation send the same SYNs."""
    if scenario.attack is None:
        return np.zeros(0, dtype=np.int64)
    return arrival_times(scenario.attack, scenario.duration, rng)


def attack_config(scenario: Scenario, times_us: npt.NDArray[np.int64], address: str) -> AttackConfig:
    """The attacker program's config for these SYN times."""
    duration_s = scenario.duration / US
    return AttackConfig(
        address=address,
        port=scenario.server.port,
        times_s=tuple((times_us / US).tolist()),
        until_s=duration_s,
        lifetime_s=duration_s + LIFETIME_MARGIN_S,
        seed=scenario.seed,
    )


def swallow_synacks(server: sandbox.Namespace) -> None:
    """Drop, on the server namespace's input hook, its SYN-ACKs to the spoofed sources."""
    server.run("nft", "add", "table", "ip", NFT_TABLE)
    server.run("nft", "add", "chain", "ip", NFT_TABLE, "in", "{ type filter hook input priority 0; }")
    server.run(
        "nft",
        "add",
        "rule",
        "ip",
        NFT_TABLE,
        "in",
        *("ip", "daddr", SPOOFED_NET, "tcp", "flags", "&", "(syn|ack)", "==", "syn|ack", "drop"),
    )


def prepare_attack(lab: sandbox.Lab) -> sandbox.Namespace:
    """The attacker namespace and the SYN-ACK rule; both vanish with the lab's namespaces."""
    attacker = sandbox.add_attacker(lab)
    swallow_synacks(lab.server)
    return attacker


def _read_line(proc: "subprocess.Popen[bytes]", timeout_s: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    return proc.stdout.readline().decode(errors="replace") if ready else ""


def _error(proc: "subprocess.Popen[bytes]") -> str:
    if proc.poll() is None or proc.stderr is None:
        return ""
    lines = proc.stderr.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else ""


@dataclass
class LabAttack:
    proc: "subprocess.Popen[bytes]"
    offered: int
    report: AttackReport | None = None  # None: the attacker reported nothing

    @classmethod
    def start(cls, lab: sandbox.Lab, scenario: Scenario, rng: np.random.Generator) -> "LabAttack":
        """Draw the SYN times, prepare the namespaces and start the attacker (waits for "ready")."""
        times = attack_times(scenario, rng)
        attacker = prepare_attack(lab)
        config = attack_config(scenario, times, lab.server.address)
        proc = attacker.python("tcpq.lab.attacker", "-", stdin=True)  # the times can be megabytes
        assert proc.stdin is not None
        try:
            proc.stdin.write(config.to_json().encode() + b"\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass  # it died: said below
        line = _read_line(proc, READY_TIMEOUT_S)
        if "ready" not in line:
            raise TcpqError(
                f"the lab's attacker did not start: {_error(proc) or line.strip() or 'no output'}"
            )
        return cls(proc, len(times))

    def go(self, t0: float) -> None:
        """Start: each SYN leaves at t0 (the lab's shared time.monotonic() start) + its time."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(go_line(t0))
        self.proc.stdin.flush()

    def finish(self) -> None:
        """Wait (bounded) for the attacker's report: it stops sending at the duration."""
        line = _read_line(self.proc, REPORT_TIMEOUT_S)
        if line.strip():
            self.report = AttackReport.from_json(line)

    @property
    def sent(self) -> int:
        return self.report.sent if self.report is not None else 0

    def notes(self) -> list[str]:
        report = self.report
        if report is None:
            return [f"attack: the attacker reported nothing ({self.offered} SYNs offered)"]
        notes = [
            f"attack: {self.sent} of {self.offered} spoofed SYNs sent from {SPOOFED_NET} (attacker "
            "namespace, raw socket); the server's SYN-ACKs to them were dropped inside the lab (nft)"
        ]
        if report.late_mean_s > LATE_NOTE_S or self.sent < self.offered:
            notes.append(
                "attack: the attacker could not keep the schedule: SYNs left "
                f"{report.late_mean_s * 1000:.1f} ms late on average "
                f"(max {report.late_max_s * 1000:.0f} ms), "
                f"{self.offered - self.sent} not sent ({report.errors} send errors)"
            )
        return notes

    def apply(self, result: RunResult) -> RunResult:
        """The RunResult with the SYNs actually sent and what the attack did, said plainly."""
        return replace(result, attack_syns=self.sent, notes=[*result.notes, *self.notes()])
