"""The doctor's rules on synthetic samples: the findings the issue "doctor and the host views must
tell the truth" measured wrong, each on the signal that decides it (no root needed). The same
defects are reproduced with real programs in test_doctor_real.py."""

from dataclasses import replace

from tcpq.doctor import diagnose
from tcpq.kernel.states import TcpState
from tcpq.observe.processes import ProcessRef
from tcpq.observe.snapshot import rates_between
from tcpq.observe.sockets import SockRecord
from tcpq.report.doctor import remedy_text, sysctl_file
from tcpq.types import Finding, Runtime, Severity

from .test_aggregate_rules import rec, snapshot

NGINX = ProcessRef(100, "nginx", Runtime.NGINX)
PY = ProcessRef(200, "python3", Runtime.PYTHON)
STOPPED = ProcessRef(300, "python3", Runtime.PYTHON, stopped=True)
GO = ProcessRef(400, "server", Runtime.GO)


def run(
    before_records: list[SockRecord],
    after_records: list[SockRecord],
    owners: dict[int, list[ProcessRef]],
    before_counters: dict[str, int] | None = None,
    after_counters: dict[str, int] | None = None,
    sysctl: dict[str, int | tuple[int, int]] | None = None,
) -> dict[str, list[Finding]]:
    before = snapshot(before_records, owners, sysctl=sysctl, counters=before_counters)
    after = snapshot(
        after_records,
        owners,
        sysctl=sysctl,
        counters=after_counters,
        t=2.0,
        previous=before,
    )
    return by_id(diagnose(before, after, rates_between(before, after)))


def by_id(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for finding in findings:
        out.setdefault(finding.id, []).append(finding)
    return out


COOKIE_COUNTERS = ("TcpExtSyncookiesSent", "TcpExtSyncookiesRecv", "TcpExtSyncookiesFailed")


def cookies(sent: int, recv: int, failed: int) -> tuple[dict[str, int], dict[str, int]]:
    before = dict.fromkeys(COOKIE_COUNTERS, 1000)
    after = {"TcpExtSyncookiesSent": 1000 + sent, "TcpExtSyncookiesRecv": 1000 + recv}
    after["TcpExtSyncookiesFailed"] = 1000 + failed
    return before, after


def test_failed_cookies_without_cookies_sent_are_not_a_flood() -> None:
    """The measured false alarm: SyncookiesSent 0, Recv 83, Failed 8 after nginx resumed."""
    before, after = cookies(sent=0, recv=83, failed=8)
    assert "syn-flood-suspected" not in run([], [], {}, before, after)


def test_answered_cookies_are_not_a_flood() -> None:
    before, after = cookies(sent=170, recv=320, failed=3)
    assert "syn-flood-suspected" not in run([], [], {}, before, after)


def test_unanswered_cookies_are_a_flood() -> None:
    before, after = cookies(sent=2983, recv=0, failed=0)
    flood = run([], [], {}, before, after)["syn-flood-suspected"][0]
    assert flood.evidence["SyncookiesSent"] == 2983 and flood.severity is Severity.CRITICAL


def listener_rec(port: int = 8080, limit: int = 64, drops: int = 0, queue: int = 0) -> SockRecord:
    return rec(
        TcpState.LISTEN,
        "127.0.0.1",
        port,
        "0.0.0.0",
        0,
        recv_q=queue,
        send_q=limit,
        inode=1,
        drops=drops,
        cookie=7,
    )


OVERFLOW = ({"TcpExtListenOverflows": 0}, {"TcpExtListenOverflows": 50})


def test_stuck_local_clients_of_a_full_queue_are_not_blamed_on_the_path() -> None:
    """Clients on this host whose final ACK the full accept queue dropped hold their request in
    Send-Q; children not yet accepted hold it in Recv-Q. Neither is a slow peer or reader."""
    stuck = [
        rec(TcpState.ESTABLISHED, "127.0.0.1", 40000 + i, "127.0.0.1", 8080, send_q=77, inode=500 + i)
        for i in range(30)
    ]
    waiting = [
        rec(TcpState.ESTABLISHED, "127.0.0.1", 8080, "127.0.0.1", 41000 + i, recv_q=77) for i in range(65)
    ]
    owners = {1: [NGINX]} | {500 + i: [ProcessRef(9, "curl", Runtime.NATIVE)] for i in range(30)}
    found = run(
        [listener_rec(queue=65, drops=10), *stuck, *waiting],
        [listener_rec(queue=65, drops=60), *stuck, *waiting],
        owners,
        *OVERFLOW,
    )
    assert "established-slow-peer" not in found and "established-slow-reader" not in found
    overflow = found["accept-queue-overflow"][0]
    assert overflow.evidence["local_clients_stuck"] == 30
    assert overflow.evidence["waiting_with_data"] == 65


def test_queued_counts_are_totals_not_capped_examples() -> None:
    """ss showed 99 sockets with Send-Q; the finding said 39. The count is every one of them."""
    peers = [
        rec(TcpState.ESTABLISHED, "10.0.0.1", 80, "10.0.0.9", 20000 + i, send_q=1000 + i, inode=600 + i)
        for i in range(99)
    ]
    owners = {600 + i: [NGINX] for i in range(99)}
    moved = [replace(r, send_q=r.send_q + 1) for r in peers[:60]] + peers[60:]
    slow = run(peers, moved, owners)["established-slow-peer"][0]
    assert slow.evidence["sockets"] == 99 and slow.evidence["in_both_samples"] == 99
    assert len(slow.evidence["examples"]) == 10 and slow.evidence["more"] == 89  # type: ignore[arg-type]
    assert slow.title.startswith("99 ")


def test_close_wait_leak_of_a_fork_per_connection_server() -> None:
    """41 CLOSE_WAIT sockets over 41 socat children: one each, a leak of one program."""
    records = [
        rec(TcpState.CLOSE_WAIT, "127.0.0.1", 7010, "127.0.0.1", 30000 + i, inode=700 + i) for i in range(41)
    ]
    owners = {700 + i: [ProcessRef(1000 + i, "socat", Runtime.NATIVE)] for i in range(41)}
    pile = run(records, records, owners)["close-wait-pileup"][0]
    assert pile.evidence["close_wait"] == 41 and pile.evidence["processes"] == 41
    assert pile.evidence["local_ports"] == [7010]


def somaxconn_case(asked_limit: int, somaxconn: int, owner: ProcessRef) -> list[Finding]:
    records = [listener_rec(limit=asked_limit)]
    return run(records, records, {1: [owner]}, sysctl={"net.core.somaxconn": somaxconn}).get(
        "backlog-clamped-by-somaxconn", []
    )


def test_backlog_at_somaxconn_reported_at_any_somaxconn() -> None:
    """listen(65535) with somaxconn 4096: the limit is 4096, at the cap (tcpq status marks it)."""
    (finding,) = somaxconn_case(4096, 4096, PY)
    assert finding.severity is Severity.INFO  # not busy: the cap does not matter now
    assert [c.value for c in finding.remedy.sysctls] == [16384]


def test_backlog_at_somaxconn_does_not_claim_a_clamp_it_cannot_know() -> None:
    """listen(32) with somaxconn 32 leaves the same trace as listen(511): say what is known."""
    (finding,) = somaxconn_case(32, 32, PY)
    assert "clamp" not in finding.title and "capped" not in finding.title
    assert "at least" in finding.explanation
    assert somaxconn_case(4096, 4096, GO) == []  # Go asks for exactly somaxconn


def test_remedies_agree_and_never_go_below_what_the_listener_has() -> None:
    """nginx asks for 511 and got 128 (somaxconn 128): both findings suggest the same values,
    above 511, and keep the configured address."""
    sysctl = {"net.core.somaxconn": 128}
    listen = listener_rec(limit=128, queue=129, drops=5)
    found = run([listen], [replace(listen, drops=80)], {1: [NGINX]}, *OVERFLOW, sysctl=sysctl)
    overflow, clamp = found["accept-queue-overflow"][0], found["backlog-clamped-by-somaxconn"][0]
    assert clamp.severity is Severity.WARNING  # the queue is full: the cap matters
    values = {c.value for f in (overflow, clamp) for c in f.remedy.sysctls if c.name == "net.core.somaxconn"}
    assert len(values) == 1 and values.pop() > 511  # type: ignore[operator]
    for finding in (overflow, clamp):
        app = finding.remedy.app
        assert app is not None and app.runtime is Runtime.NGINX
        assert app.example == "listen 127.0.0.1:8080 backlog=512;"
        assert "ServerSocket" not in remedy_text(finding.remedy)
    assert sysctl_file([overflow, clamp]).count("net.core.somaxconn = 512") == 1


def test_remedy_is_written_for_the_runtime() -> None:
    listen = listener_rec(limit=16, drops=1)
    found = run([listen], [replace(listen, drops=40)], {1: [PY]}, *OVERFLOW)
    text = remedy_text(found["accept-queue-overflow"][0].remedy)
    assert "sock.listen(128)" in text and "nginx" not in text and "Java" not in text


def test_a_stopped_process_is_not_called_slow_or_buggy() -> None:
    listen = listener_rec(limit=16, queue=17, drops=1)
    found = run([listen], [replace(listen, drops=40)], {1: [STOPPED]}, *OVERFLOW)
    overflow = found["accept-queue-overflow"][0]
    assert overflow.remedy.app is not None and overflow.remedy.app.example == "kill -CONT 300"
    assert "stopped" in overflow.explanation and "fast enough" not in overflow.explanation
    assert overflow.remedy.sysctls == []


def test_cookies_after_an_accept_queue_overflow_are_not_cured_by_a_backlog() -> None:
    """The retry wave of clients a full accept queue dropped fills the SYN queue: the cookie
    finding points at the accept rate instead of suggesting a larger backlog on its own."""
    listen = listener_rec(limit=64, drops=1)
    before = {"TcpExtListenOverflows": 0, "TcpExtTCPReqQFullDoCookies": 0, "TcpExtSyncookiesSent": 0}
    before["TcpExtSyncookiesRecv"] = 0
    after = {"TcpExtListenOverflows": 300, "TcpExtTCPReqQFullDoCookies": 170, "TcpExtSyncookiesSent": 170}
    after["TcpExtSyncookiesRecv"] = 340
    found = run([listen], [replace(listen, drops=301)], {1: [NGINX]}, before, after)
    cookie = found["syn-queue-overflow-cookies"][0]
    assert cookie.remedy.sysctls == [] and cookie.remedy.app is None
    assert "accept-queue-overflow" in remedy_text(cookie.remedy)
    assert "syn-flood-suspected" not in found
