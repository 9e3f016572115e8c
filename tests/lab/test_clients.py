"""The lab's client generator on loopback (no namespaces, no root): outcomes, timers, report."""

import errno
import socket
import threading
from collections.abc import Iterator

import pytest

from tcpq.lab import clients
from tcpq.lab.wire import ClientGroup, ClientReport


@pytest.fixture
def listener() -> Iterator[tuple[int, list[socket.socket]]]:
    """A loopback listener whose accepted connections reply OK to each request."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    sock.settimeout(0.05)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(0.05)
            accepted.append(conn)
            for other in list(accepted):
                try:
                    if other.recv(64):
                        other.send(b"OK\n")
                except (TimeoutError, OSError):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1], accepted
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    sock.close()


def group(
    times: list[float],
    *,
    connect_timeout_s: float | None = 1.0,
    request: bool = False,
    request_after_s: float = 0.0,
    close_after_s: float | None = 0.05,
) -> ClientGroup:
    return ClientGroup(tuple(times), connect_timeout_s, request, request_after_s, close_after_s)


def reported(run: clients.Run) -> ClientReport:
    """The run's report as tcpq reads it: through its JSON line."""
    return ClientReport.from_json(run.report().to_json())


def test_connect_then_close_after(listener: tuple[int, list[socket.socket]]) -> None:
    port, _ = listener
    times = [i * 0.002 for i in range(100)]
    run = clients.Run("127.0.0.1", port, 0.6, [group(times), group([0.1, 0.1])])
    run.run()
    report = reported(run)
    assert report.attempted == 102 and report.outcomes == {"connected": 102}
    assert len(report.connect_s) == len(report.connected_at_s) == 102
    assert list(report.connected_at_s) == sorted(report.connected_at_s) and report.ended_at_s == {}
    assert all(a.sock is None and a.state == "done" for a in run.attempts)  # closed after 50 ms
    starts = [a.start - run.t0 for a in run.attempts]
    scheduled = sorted([*times, 0.1, 0.1])
    assert starts == sorted(starts) and all(s >= t for s, t in zip(starts, scheduled, strict=True))


def test_request_mode_times_the_reply(listener: tuple[int, list[socket.socket]]) -> None:
    port, _ = listener
    run = clients.Run(
        "127.0.0.1", port, 1.0, [group([0.0, 0.05], request=True, request_after_s=0.01, close_after_s=0.0)]
    )
    run.run()
    report = reported(run)
    assert report.outcomes == {"connected": 2}
    assert len(report.response_s) == 2 and all(r >= 0.01 for r in report.response_s)


def test_closed_port_is_refused() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # bound, never listening: nobody owns the port now
    run = clients.Run("127.0.0.1", port, 0.3, [group([0.0, 0.01])])
    run.run()
    assert reported(run).outcomes == {"refused": 2}


def test_no_descriptor_is_an_outcome_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    run = clients.Run("127.0.0.1", 1, 0.3, [group([0.0, 0.01])])

    def exhausted(*args: object, **kwargs: object) -> socket.socket:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(clients.socket, "socket", exhausted)
    run.run()
    assert reported(run).outcomes == {"no_port": 2}


def test_each_attempt_that_did_not_connect_reports_when_it_ended() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    run = clients.Run("127.0.0.1", port, 0.3, [group([0.0, 0.05])])
    run.run()
    ended = reported(run).ended_at_s
    assert list(ended) == ["refused"]
    # a RST answers at once on loopback: each ends just after its start, both before the end
    starts = [a.start - run.t0 for a in run.attempts]
    assert len(ended["refused"]) == 2 and list(ended["refused"]) == sorted(ended["refused"])
    assert all(0 <= t - s < 0.05 for t, s in zip(ended["refused"], starts, strict=True))


def test_a_connect_timeout_ends_at_its_timeout() -> None:
    """A listener that never accepts, backlog 0: the first handshake fills it (limit + 1 = 1), the
    later SYNs are dropped and those attempts end as timed out 0.1 s after they started."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(0)
    try:
        run = clients.Run(
            "127.0.0.1", sock.getsockname()[1], 0.5, [group([0.0, 0.02, 0.04], connect_timeout_s=0.1)]
        )
        run.run()
        report = reported(run)
    finally:
        sock.close()
    ended = report.ended_at_s
    assert report.outcomes == {"connected": 1, "timed_out": 2} and len(ended["timed_out"]) == 2
    assert "connected" not in ended  # a connected attempt reports connected_at_s instead
    timed_out = [a for a in run.attempts if a.outcome == "timed_out"]
    for attempt, t in zip(timed_out, ended["timed_out"], strict=True):
        assert 0.1 <= t - (attempt.start - run.t0) < 0.1 + 2 * clients.MAX_WAIT_S
