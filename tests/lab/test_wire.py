"""The lab's wire protocol (lab/wire.py): every message survives its JSON line, and a malformed
one is refused with an error naming the message and the field. Also each program's own end:
what the server, the probe and the attacker write reads back as its message, and a program
given a malformed config says so in its last line of stderr. No root needed."""

import itertools
import json
import re
import socket
import subprocess
import sys
import time
from dataclasses import fields, replace
from typing import Any

import pytest

from tcpq.errors import ParseError, TcpqError
from tcpq.lab import attacker, clients, wire
from tcpq.lab.wire import (
    AttackConfig,
    AttackReport,
    ClientConfig,
    ClientGroup,
    ClientReport,
    DirectionStats,
    LinkConfig,
    Message,
    ProbeConfig,
    ProbeResult,
    RelayStats,
    ServerAccepts,
    ServerConfig,
    WaveConfig,
    WavePackets,
)
from tcpq.model.client import Outcome

GROUP = ClientGroup((0.0, 0.25, 1 / 3), None, request=True, request_after_s=0.01, close_after_s=0.5)
SAMPLES: list[Message] = [
    ServerConfig(
        "198.18.0.1", 8080, -1, "rate", 250.5, 0, 0.002, True, 0.5, False, 31.0, 7, 0.0, wait_for_go=True
    ),
    ServerAccepts((1234.000001, 1234.5)),
    GROUP,
    ClientConfig("198.18.0.1", 8080, 2.0, (GROUP, replace(GROUP, times_s=(), connect_timeout_s=3.0))),
    ClientReport(
        attempted=4,
        outcomes={"connected": 2, "refused": 1, "pending": 1},
        connect_s=(0.000123, 1.0004),
        response_s=(),
        connected_at_s=(0.1, 1.2),
        ended_at_s={"refused": (0.30000000000000004,)},
        late_mean_s=0.0001,
        late_max_s=0.002,
        started_s=(0.1, 0.2, 0.3, 0.4),
    ),
    AttackConfig("198.18.0.1", 443, (1.0, 1.0001), until_s=5.0, lifetime_s=65.0, seed=3),
    AttackReport(
        offered=2, sent=1, errors=1, unsent=0, first_s=1.0, last_s=None, late_mean_s=0.0, late_max_s=0.0
    ),
    LinkConfig((5, 6), one_way_us=5000, loss=0.01, seed=1, lifetime_s=61.0, parent_pid=4242, spin_us=0),
    DirectionStats(10, 1, 9),
    RelayStats(
        20, 2, 18, 0, 0, (DirectionStats(10, 1, 9), DirectionStats(10, 1, 9)), 5.0, 45.0, 120.5, 3, 1.5
    ),
    ProbeConfig("spaced", "198.18.0.1", 5102, 200, lifetime_s=1.2),
    ProbeResult((0.5, 0.75)),
    WaveConfig("198.18.0.1", 5110, 0.5, 1.9, backlog=0, switch="relisten", new_backlog=4096),
    WavePackets(((0.25, 0x02), (1.0, 0x10))),
]
SAMPLE = {type(sample).__name__: sample for sample in SAMPLES}


def every_message(cls: type[Message] = Message) -> set[type[Message]]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *every_message(sub)}
    return found


def test_every_message_has_a_sample() -> None:
    assert {type(sample) for sample in SAMPLES} == every_message()


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: type(sample).__name__)
def test_every_message_round_trips(sample: Message) -> None:
    text = sample.to_json()
    assert "\n" not in text  # one line: the programs speak in lines
    back = type(sample).from_json(text)
    assert back == sample and back.to_json() == text
    assert list(json.loads(text)) == [item.name for item in fields(sample)]  # every field, in order


def test_json_is_plain_json_of_the_fields() -> None:
    """Nested messages are objects and tuples lists: what a program written without wire.py reads."""
    config = json.loads(SAMPLE["ClientConfig"].to_json())
    assert config["groups"][0] == {
        "times_s": [0.0, 0.25, 1 / 3],
        "connect_timeout_s": None,
        "request": True,
        "request_after_s": 0.01,
        "close_after_s": 0.5,
    }
    assert json.loads(WavePackets(((0.25, 2),)).to_json()) == {"packets": [[0.25, 2]]}


def test_a_whole_number_in_a_float_field_reads_as_a_float() -> None:
    text = '{"times_s": [0, 1], "connect_timeout_s": 2, "request": false, "request_after_s": 0, '
    group = ClientGroup.from_json(text + '"close_after_s": null}')
    assert group.times_s == (0.0, 1.0) and all(type(t) is float for t in group.times_s)
    assert type(group.connect_timeout_s) is float and group.close_after_s is None


def altered(sample: Message, path: list[str | int], value: Any) -> str:
    """The sample's JSON with the value at `path` replaced (or removed, for ...)."""
    data = json.loads(sample.to_json())
    *parents, last = path
    target = data
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return json.dumps(data)


MALFORMED: list[tuple[str, list[str | int], Any, str]] = [
    ("ClientReport", ["connect_s", 1], "x", r"ClientReport .*: connect_s\[1\]: expected a number, got 'x'"),
    ("ClientReport", ["outcomes", "lost"], 3, r"ClientReport .*: outcomes: 'lost' is not one of connected, "),
    ("ClientReport", ["ended_at_s", "refused"], 0.3, r"ended_at_s\['refused'\]: expected a list, got 0.3"),
    ("ClientReport", ["attempted"], ..., r"ClientReport .*: attempted: missing"),
    ("ClientReport", ["late_mean_s"], None, r"late_mean_s: expected a number, got None"),
    ("ClientConfig", ["groups", 1, "times_s"], ..., r"ClientConfig .*: groups\[1\]\.times_s: missing"),
    ("ClientConfig", ["groups", 0, "connect_timeout_s"], "1", r"connect_timeout_s: expected a number, got"),
    ("ServerConfig", ["accept"], "sometimes", r"ServerConfig .*: accept: 'sometimes' is not one of immed"),
    ("ServerConfig", ["port"], True, r"ServerConfig .*: port: expected an integer, got True"),
    ("ServerConfig", ["backlog"], 1.5, r"backlog: expected an integer, got 1.5"),
    ("AttackReport", ["sent_at"], 1, r"AttackReport .*: sent_at: unknown field"),
    ("LinkConfig", ["fds"], [5], r"LinkConfig .*: fds: expected a list of 2, got \[5\]"),
    ("RelayStats", ["per_direction", 0, "read"], "10", r"RelayStats .*: per_direction\[0\]\.read: expected"),
    ("WavePackets", ["packets", 0], [0.25, 2, 0], r"WavePackets .*: packets\[0\]: expected a list of 2"),
    ("WaveConfig", ["switch"], "close", r"WaveConfig .*: switch: 'close' is not one of drain, relisten"),
]


@pytest.mark.parametrize(
    ("name", "path", "value", "match"), MALFORMED, ids=[f"{m[0]}-{m[1][0]}" for m in MALFORMED]
)
def test_a_malformed_message_names_the_message_and_the_field(
    name: str, path: list[str | int], value: Any, match: str
) -> None:
    sample = SAMPLE[name]
    with pytest.raises(ParseError, match=match):
        type(sample).from_json(altered(sample, path, value))


def test_what_is_not_a_message_at_all() -> None:
    with pytest.raises(TcpqError, match=r"malformed ClientReport \(the client generator's report.*not JSON"):
        ClientReport.from_json(b'{"attempted": 1')
    with pytest.raises(TcpqError, match=r"malformed ServerAccepts .*: expected an object, got \[1.0\]"):
        ServerAccepts.from_json("[1.0]")
    with pytest.raises(TcpqError, match=r"connect_s\[0\]: expected a number, got '9+…$"):
        ClientReport.from_json(altered(SAMPLE["ClientReport"], ["connect_s", 0], "9" * 10**5))
    with pytest.raises(TcpqError, match=r": xy+…: unknown field$") as raised:
        ClientReport.from_json('{"x' + "y" * 10**5 + '": 1}')
    assert len(str(raised.value)) < 200  # a megabyte from a broken program is not quoted whole


def test_the_outcomes_are_the_models() -> None:
    """The client generator reports the model's outcomes, and only those."""
    assert frozenset(Outcome) == wire.OUTCOMES
    assert set(clients.OUTCOME_BY_ERRNO.values()) < wire.OUTCOMES


def test_go_line_carries_t0_exactly() -> None:
    t0 = time.monotonic() + 0.05
    assert wire.parse_go(wire.go_line(t0).decode()) == (True, t0)
    assert wire.parse_go("go\n") == (True, None)
    assert wire.parse_go("stop\n") == (False, None) and wire.parse_go("") == (False, None)


# -- each program's own end ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def program(module: str, config: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module, config],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_server_logs_its_accepts_as_server_accepts() -> None:
    port = free_port()
    config = replace(
        SAMPLE["ServerConfig"],
        address="127.0.0.1",
        port=port,
        backlog=16,
        accept="immediate",
        accept_after_s=0.0,
        lifetime_s=0.6,
        log_accepts=True,
        wait_for_go=False,
    )
    server = program("tcpq.lab.server", config.to_json())
    assert server.stdout is not None and server.stdout.readline() == "ready\n"
    before = time.monotonic()
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    out, _ = server.communicate(timeout=10)
    for sock in held:
        sock.close()
    accepted = ServerAccepts.from_json(out.splitlines()[-1]).accepted
    assert len(accepted) == 3 and all(before < t < time.monotonic() for t in accepted)


def test_the_probe_reports_a_probe_result() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        config = ProbeConfig(
            "spaced", "127.0.0.1", listener.getsockname()[1], 3, lifetime_s=5.0, spacing_s=0.01
        )
        probe = program("tcpq.lab.probe", config.to_json())
        assert probe.stdout is not None and probe.stdout.readline() == "ready\n"
        out, _ = probe.communicate("go\n", timeout=10)
    returned = ProbeResult.from_json(out.splitlines()[-1]).result
    assert len(returned) == 3 and list(returned) == sorted(returned)
    assert all(later - earlier >= 0.01 for earlier, later in itertools.pairwise(returned))


class Recorder:
    """Stands in for the attacker's raw socket: keeps what it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, packet: bytes, destination: tuple[str, int]) -> int:
        self.sent.append(packet)
        return len(packet)


def test_the_attacker_reports_an_attack_report() -> None:
    config = AttackConfig("198.18.0.1", 443, (0.0, 0.001, 0.002), until_s=0.5, lifetime_s=5.0)
    recorder = Recorder()
    started = time.monotonic()
    report = attacker.attack(recorder, config, attacker.Packets(config), started)
    assert AttackReport.from_json(report.to_json()) == report
    assert (report.offered, report.sent, report.errors, report.unsent) == (3, 3, 0, 0)
    assert len(recorder.sent) == 3 and report.first_s is not None and report.last_s is not None


@pytest.mark.parametrize(
    ("module", "config", "match"),
    [
        (
            "tcpq.lab.server",
            '{"address": "127.0.0.1", "port": "80"}',
            "ServerConfig .*: port: expected an int",
        ),
        ("tcpq.lab.link", '{"fds": [5, 6]}', "LinkConfig .*: one_way_us: missing"),
        ("tcpq.lab.probe", '{"mode": "spaced"}', "ProbeConfig .*: address: missing"),
        ("tcpq.lab.wave", "not json", "WaveConfig .*: not JSON"),
        ("tcpq.lab.clients", '{"address": 1}', "ClientConfig .*: address: expected a string, got 1"),
    ],
)
def test_a_program_given_a_malformed_config_says_which_field(module: str, config: str, match: str) -> None:
    """What the runner shows of a program that did not start: the last line of its stderr."""
    proc = program(module, config)
    out, err = proc.communicate("", timeout=10)
    assert proc.returncode != 0 and "ready" not in out
    assert re.search(match, err.strip().splitlines()[-1])
