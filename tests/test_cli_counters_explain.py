"""`tcpq counters PATTERN...` (nstat's shell globs) and `tcpq explain --list` (issue 8, item 14)."""

import json

import pytest
from click.testing import CliRunner

from tcpq.app import host_session as session
from tcpq.cli import main
from tcpq.kernel.counters import COUNTERS
from tcpq.kernel.states import STATES
from tcpq.kernel.sysctls import SYSCTLS
from tcpq.types import Rates, Snapshot, Source

COUNTS = {
    "TcpExtListenOverflows": 16,
    "TcpExtListenDrops": 17,
    "TcpExtTCPReqQFullDrop": 0,
    "TcpExtSyncookiesSent": 3,
    "TcpActiveOpens": 40,
    "TcpPassiveOpens": 21,
    "IpExtInOctets": 9000,
    "UdpInDatagrams": 5,
}


def _snapshot(counters: dict[str, int]) -> Snapshot:
    return Snapshot(
        source=Source.HOST,
        netns="self",
        kernel_release="6.18.0",
        monotonic_s=0.0,
        wall_s=0.0,
        sysctl={},
        counters=counters,
        states={},
        states_by_process=[],
        states_by_port={},
        states_by_remote={},
        listeners=[],
        close_wait=[],
        time_wait_by_destination=[],
        queued=[],
        orphans=0,
        sockets_total=0,
    )


@pytest.fixture
def canned(monkeypatch: pytest.MonkeyPatch) -> None:
    """The counters command reads these two samples instead of the host."""
    before = _snapshot({name: 0 for name in COUNTS})
    after = _snapshot(COUNTS)
    rates = Rates(
        interval_s=1.0,
        counters_per_s={name: float(value) for name, value in COUNTS.items()},
        counter_deltas=dict(COUNTS),
    )

    def scan(_target: object, interval_s: float | None, *_args: object, **_kwargs: object) -> session.Scan:
        return session.Scan([session.Sample(before, after, rates if interval_s else None)])

    monkeypatch.setattr(session, "targets", lambda _spec: session.Targets([]))
    monkeypatch.setattr(session, "scan", scan)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def one_line_error(code: int, stderr: str) -> str:
    assert code == 2, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("tcpq: error: "), stderr
    return stderr


# -- counters PATTERN... ---------------------------------------------------------------------


@pytest.mark.usefixtures("canned")
def test_glob_selects_counters_case_insensitively() -> None:
    listen = {"TcpExtListenOverflows", "TcpExtListenDrops"}
    for pattern in ("TcpExt*Listen*", "tcpext*listen*"):
        code, out, err = run("counters", "--json", pattern)
        assert code == 0, err
        data = json.loads(out)
        assert set(data["counters"]) == listen
        assert set(data["deltas"]) == listen
        assert data["counters"]["TcpExtListenDrops"] == 17


@pytest.mark.usefixtures("canned")
def test_patterns_reach_every_counter_and_add_up() -> None:
    # IpExt and Udp are not among the connection-handling counters shown by default.
    code, out, _ = run("counters", "--json", "--interval", "0", "IpExt*", "Udp*", "TcpActiveOpens")
    assert code == 0
    data = json.loads(out)
    assert set(data["counters"]) == {"IpExtInOctets", "UdpInDatagrams", "TcpActiveOpens"}
    assert data["deltas"] is None


@pytest.mark.usefixtures("canned")
def test_terminal_shows_only_the_matches() -> None:
    code, out, _ = run("counters", "*Opens")
    assert code == 0
    assert "TcpActiveOpens" in out and "TcpPassiveOpens" in out
    assert "ListenDrops" not in out and "InOctets" not in out


@pytest.mark.usefixtures("canned")
def test_pattern_matching_nothing_is_an_error_with_a_hint() -> None:
    code, _, err = run("counters", "TcpExt*Listen*", "ListenOverflow")
    message = one_line_error(code, err)
    assert "'ListenOverflow'" in message and "TcpExtListenOverflows" in message  # the hint
    code, _, err = run("counters", "Nothing*Like*This")
    assert "glob" in one_line_error(code, err)


# -- explain --list --------------------------------------------------------------------------


def test_list_names_every_topic_one_per_line_in_80_columns() -> None:
    code, out, _ = run("explain", "--list")
    assert code == 0
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    names = [line.split()[1] for line in lines if line.split()[:1] in (["state"], ["counter"], ["sysctl"])]
    expected = [*(i.state.name for i in STATES.values()), *COUNTERS, *SYSCTLS]
    assert sorted(names) == sorted(expected)
    somaxconn = next(line for line in lines if line.split()[1:2] == ["net.core.somaxconn"])
    assert somaxconn.split()[0] == "sysctl"


def test_list_json_has_the_same_topics() -> None:
    code, out, _ = run("explain", "--list", "--json")
    assert code == 0
    topics = json.loads(out)["topics"]
    by_name = {topic["name"]: topic for topic in topics}
    assert len(by_name) == len(topics) == len(STATES) + len(COUNTERS) + len(SYSCTLS)
    assert by_name["TcpExtListenOverflows"]["kind"] == "counter"
    assert by_name["CLOSE_WAIT"]["kind"] == "state"
    assert by_name["net.core.somaxconn"]["meaning"] == SYSCTLS["net.core.somaxconn"].meaning
    code, terminal, _ = run("explain", "--list")
    assert [line.split()[1] for line in terminal.splitlines()] == [topic["name"] for topic in topics]


def test_explain_needs_a_term_or_list() -> None:
    code, _, err = run("explain")
    assert "--list" in one_line_error(code, err)
    code, _, err = run("explain", "somaxconn", "--list")
    one_line_error(code, err)


def test_every_listed_topic_can_be_explained() -> None:
    _, out, _ = run("explain", "--list", "--json")
    for topic in json.loads(out)["topics"]:
        code, entry, err = run("explain", topic["name"], "--json")
        assert code == 0, err
        assert json.loads(entry)["name"] == topic["name"]
