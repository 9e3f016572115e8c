"""`tcpq trace` bad input: one line, no traceback, exit 2 (no root needed: checked first)."""

import subprocess
import sys

import pytest

from tcpq.report.trace import WIDTH, event_line, interval_lines
from tcpq.trace.attribute import Attribution, ListenerRef, Owner
from tcpq.trace.events import Endpoint, Kind, TraceEvent
from tcpq.trace.session import EventRecord, Interval
from tcpq.trace.tally import NetnsInterval


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--port", "http"], "--port 'http'"),
        (["--port", "70000"], "--port '70000'"),
        (["--duration", "10x"], "--duration"),
        (["--duration", "0s"], "--duration must be above 0"),
        (["--netns", "tcpq-test-no-such-namespace"], "not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tcpq", "trace", *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("tcpq: error: ")
    assert says in result.stderr


def test_lines_fit_80_columns() -> None:
    listener = ListenerRef("tcpq-test-123456-1", "127.0.0.1", 8080, (Owner(4242, "a-long-server-name"),))
    where = Attribution("tcpq-test-123456-1", listener, listener.owners[0], "pointer")
    event = TraceEvent(12.5, 0, Kind.DROP, None, None, sk="1", skb="2", reason="TCP_LISTEN_OVERFLOW")
    line = event_line(EventRecord(12.5, event, where, paired_reset=True))
    assert len(line) <= WIDTH
    assert line.startswith(" 12.500 …st-123456-1 :8080  final ACK dropped +RST")
    retransmit = TraceEvent(
        1.0,
        1,
        Kind.SYN_RETRANSMIT,
        Endpoint("255.255.255.255", 65535),
        Endpoint("10.0.0.1", 8080),
        state="SYN_SENT",
    )
    assert "255.255.255.255:65535" in event_line(EventRecord(1.0, retransmit, where, paired_reset=False))
    counters = {
        name: 123456
        for name in (
            "TcpExtListenOverflows",
            "TcpExtListenDrops",
            "TcpExtTCPReqQFullDrop",
            "TcpExtTCPReqQFullDoCookies",
            "TcpExtSyncookiesSent",
            "TcpExtSyncookiesRecv",
            "TcpExtSyncookiesFailed",
            "TcpExtTCPSynRetrans",
        )
    }
    row = NetnsInterval("tcpq-test-123456-1", counters, {}, 38, 5, listener)
    lines = interval_lines(Interval(3.0, [row]))
    assert all(len(item) <= WIDTH for item in lines)
    assert sum(item.count("+123456") for item in lines) == len(counters)  # wrapped, none cut
    assert "  3.000 ── 38 SYNs dropped at SYN time on :8080 (…st-123456-1)" in lines
