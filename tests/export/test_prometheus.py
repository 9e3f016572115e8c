"""tcpq export against a real HTTP client and a real Prometheus.

The concurrency and error tests run the exporter in this process (so scans can be counted);
the Prometheus test runs `python -m tcpq export` as a subprocess and a real `prometheus`
scraping it, both bounded in time and stopped by PID.
"""

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tcpq.app import host_session as session
from tcpq.errors import TcpqError
from tcpq.export.server import ExportConfig, serving
from tcpq.kernel.states import TcpState
from tcpq.observe.inet_diag import dump_tcp
from tests.observe.nslab import PREFIX, clients, listener, namespace, require_root_netns
from tests.observe.test_views import delete_after_listing

SCRAPERS = 20
LISTEN_PORT = 8099  # inside the test namespace; below the ephemeral range, so not folded


def get(url: str, timeout: float = 10) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode()


def values(text: str, metric: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == metric
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """No socket listens on it (TIME-WAIT leftovers of closed scrapes do not count)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class CountingScan:
    """session.scan, counted, and slow enough that concurrent scrapes overlap it."""

    def __init__(self, delay_s: float = 0.3) -> None:
        self.calls = 0
        self.delay_s = delay_s

    def __call__(self, target: session.Targets, interval_s: float | None) -> session.Scan:
        self.calls += 1
        time.sleep(self.delay_s)
        return session.scan(target, interval_s)


def test_concurrent_scrapes_share_one_scan() -> None:
    scan = CountingScan()
    config = ExportConfig("127.0.0.1", 0, None, min_interval_s=1.0)
    with serving(config, scan) as exporter:
        start = threading.Barrier(SCRAPERS)
        results: list[tuple[int, str]] = []

        def scrape() -> None:
            start.wait(timeout=10)
            results.append(get(exporter.url))

        threads = [threading.Thread(target=scrape) for _ in range(SCRAPERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(results) == SCRAPERS
        assert {status for status, _ in results} == {200}
        assert scan.calls == 1
        for _, body in results:
            assert values(body, "tcpq_netns_up") == {(("netns", "self"),): 1.0}
        time.sleep(1.1)  # past --min-interval: the next scrape scans again
        status, body = get(exporter.url)
        assert status == 200
        assert scan.calls == 2
        assert values(body, "tcpq_snapshot_age_seconds")[()] < 1.0


def test_the_exporter_listens_with_a_backlog_that_holds_its_scrapers() -> None:
    """Not socketserver's 5: a burst of SCRAPERS scrapes must not overflow the accept queue
    (its SYNs would come back 1 s later). The backlog as the kernel reports it (inet_diag's
    Send-Q of a listener)."""
    config = ExportConfig("127.0.0.1", 0, None, min_interval_s=1.0)
    with serving(config, CountingScan(delay_s=0)) as exporter:
        port = urllib.parse.urlsplit(exporter.url).port
        listening = dump_tcp(states=frozenset({TcpState.LISTEN}))
        backlogs = [record.send_q for record in listening if record.local_port == port]
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert backlogs == [min(socket.SOMAXCONN, somaxconn)]
    assert backlogs[0] >= SCRAPERS


def test_a_failing_scan_is_counted_and_the_scrape_still_answers() -> None:
    def failing(target: session.Targets, interval_s: float | None) -> session.Scan:
        raise TcpqError("network namespace self vanished while being read")

    with serving(ExportConfig("127.0.0.1", 0, None, min_interval_s=0.0), failing) as exporter:
        get(exporter.url)
        status, body = get(exporter.url)
    assert status == 200
    assert values(body, "tcpq_scrape_errors_total") == {(): 2.0}
    assert values(body, "tcpq_netns_up") == {(("netns", "self"),): 0.0}
    assert not values(body, "tcpq_listener_accept_queue")


def test_a_namespace_vanishing_during_the_scrape_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    with namespace() as ns:
        deleted = delete_after_listing(monkeypatch, ns.name)
        with serving(ExportConfig("127.0.0.1", 0, "all", min_interval_s=0.0)) as exporter:
            deleted.clear()  # serving() listed the namespaces once to check --netns: delete on the scrape's
            subprocess.run(["ip", "netns", "add", ns.name], check=True, timeout=10)
            status, body = get(exporter.url)
        assert deleted == [ns.name]
        assert status == 200
        up = values(body, "tcpq_netns_up")
        assert up[(("netns", ns.name),)] == 0.0
        assert up[(("netns", "self"),)] == 1.0
        assert values(body, "tcpq_scrape_errors_total") == {(): 0.0}


def test_a_port_in_use_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "tcpq", "export", "--listen", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"tcpq: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_bad_arguments_are_one_line_errors() -> None:
    for args in (["--listen", "nowhere"], ["--min-interval", "soon"]):
        done = subprocess.run(
            [sys.executable, "-m", "tcpq", "export", *args], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 2, args
        assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("tcpq: error: ")


# -- a real Prometheus ------------------------------------------------------------------------


def stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(timeout=15)


@contextmanager
def exporter_process(port: int) -> Iterator[subprocess.Popen[str]]:
    command = [sys.executable, "-m", "tcpq", "export", "--netns", "all"]
    command += ["--listen", f"127.0.0.1:{port}", "--min-interval", "0.2s"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert line == f"tcpq export: serving http://127.0.0.1:{port}/metrics\n", line
        yield process
    finally:
        stop(process)
        if process.stderr is not None:
            process.stderr.close()


def prometheus_config(directory: Path, target_port: int) -> Path:
    config = directory / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: tcpq\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{target_port}']\n",
        encoding="utf-8",
    )
    return config


@contextmanager
def prometheus(target_port: int) -> Iterator[str]:
    directory = Path(tempfile.mkdtemp(prefix="tcpq-test-prometheus-"))
    port = free_port()
    command = [
        "prometheus",
        f"--config.file={prometheus_config(directory, target_port)}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    log = (directory / "prometheus.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=directory)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_ready(f"{base}/-/ready", process)
        yield base
    finally:
        stop(process)
        log.close()
        shutil.rmtree(directory, ignore_errors=True)


def wait_until_ready(url: str, process: subprocess.Popen[str], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "prometheus exited"
        try:
            if get(url, timeout=2)[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"prometheus not ready after {timeout_s} s")


def query(base: str, expression: str) -> list[dict[str, object]]:
    import json

    status, body = get(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expression})}")
    document = json.loads(body)
    assert status == 200 and document["status"] == "success", body
    result: list[dict[str, object]] = document["data"]["result"]
    return result


def poll(base: str, expression: str, timeout_s: float = 30) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = query(base, expression)
        if result:
            return result
        time.sleep(0.5)
    return []


def require_prometheus() -> None:
    require_root_netns()
    if shutil.which("prometheus") is None:
        pytest.skip("needs Prometheus (`prometheus` on PATH, Debian package prometheus)")


def test_prometheus_sees_the_listener_that_drops() -> None:
    require_prometheus()
    with namespace() as ns:
        listener(ns, LISTEN_PORT, 4, "never")
        clients(ns, LISTEN_PORT, count=300, gap=0.02)
        port = free_port()
        with exporter_process(port) as exporter, prometheus(port) as base:
            # Only namespaces this test run made: other experiments may drop too.
            mine = f'netns=~"{PREFIX}.*"'
            result = poll(base, f"rate(tcpq_listener_drops_total{{{mine}}}[10s]) > 0")
            up = query(base, f'tcpq_netns_up{{netns="{ns.name}"}}')
        assert len(result) == 1, result
        labels = result[0]["metric"]
        assert isinstance(labels, dict)
        assert (labels["netns"], labels["port"], labels["address"]) == (
            ns.name,
            str(LISTEN_PORT),
            "127.0.0.1",
        )
        assert labels["process"].startswith("python"), labels  # the owner's comm, never a PID
        assert [item["value"][1] for item in up] == ["1"]  # type: ignore[index]
        assert exporter.returncode == 143
        assert port_is_free(port)
