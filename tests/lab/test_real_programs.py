"""Real programs against the model: nginx stalled while `curl -Z --parallel-immediate` waits.

The nginx story of the issue "The model must hold under bursts": a stalled nginx (SIGSTOP)
with hundreds of curl clients in SYN_SENT; when it resumes, the clients' retransmitted SYNs of
one timer tick arrive together, fill the SYN queue before any final ACK is processed, and the
kernel answers the rest with SYN cookies. Runs in `tcpq-test-` namespaces (veth), bounded in
time, processes stopped by pid; needs root, nginx (Debian nginx-light) and curl.
"""

import os
import shutil
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tcpq.app.fidelity import with_measured_host
from tcpq.compare import DRAW_SEEDS
from tcpq.lab import sandbox
from tcpq.observe.procfs import read_counters
from tcpq.scenario import scenario_from_dict
from tcpq.sim.runner import simulate

CLIENTS, BACKLOG, STALL_S, PORT = 300, 64, 3.5, 8080
COUNTERS = ("TcpExtListenOverflows", "TcpExtTCPReqQFullDoCookies", "TcpExtSyncookiesSent")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nginx") is None or shutil.which("curl") is None,
    reason="needs root (namespaces), nginx and curl (CI installs nginx-light and curl)",
)

SCENARIO: dict[str, Any] = {
    "name": "nginx stalled, curl clients waiting",
    "duration": "8s",
    "server": {"port": PORT, "backlog": BACKLOG, "accept": "immediate", "accept_after": f"{STALL_S}s"},
    "clients": {"count": CLIENTS, "request": True},
}


def nginx_conf(directory: Path, address: str) -> Path:
    conf = directory / "nginx.conf"
    conf.write_text(
        f"daemon off; master_process off; worker_processes 1; pid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log;\n"
        "events { worker_connections 4096; }\n"
        "http { access_log off;\n"
        f"  server {{ listen {address}:{PORT} backlog={BACKLOG};\n"
        '    location / { return 200 "ok\\n"; } } }\n'
    )
    return conf


def run_nginx_story(tmp_path: Path) -> tuple[dict[str, int], list[float]]:
    """nginx stopped before 300 curl transfers start, resumed after STALL_S: counters, connect times."""
    pid = os.getpid()
    names = (f"tcpq-test-{pid}-ngs", f"tcpq-test-{pid}-ngc", f"tqt{pid}s"[:15], f"tqt{pid}c"[:15])
    with sandbox.lab(names) as lab:
        nginx = lab.server.spawn(["nginx", "-c", str(nginx_conf(tmp_path, lab.server.address))])
        deadline = time.monotonic() + 5
        while not (tmp_path / "nginx.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        net = Path(f"/proc/{nginx.pid}/net")  # `ip netns exec` execs nginx: same pid
        before = read_counters(net)
        os.kill(nginx.pid, signal.SIGSTOP)
        started = time.monotonic()
        url = f"http://{lab.server.address}:{PORT}/[1-{CLIENTS}]"
        curl = lab.client.spawn(
            ["curl", "-Z", "--parallel-immediate", "--parallel-max", str(CLIENTS), "-s", "-o", "/dev/null",
             "-w", "%{time_connect}\\n", "--max-time", "20", url]
        )
        time.sleep(max(0.0, started + STALL_S - time.monotonic()))
        os.kill(nginx.pid, signal.SIGCONT)
        try:
            out, _ = curl.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            curl.kill()
            raise
        after = read_counters(net)
    connect_s = sorted(float(line) for line in out.decode().split() if line.strip())
    return {name: after.get(name, 0) - before.get(name, 0) for name in COUNTERS}, connect_s


KERNEL_RUNS = 5  # the kernel's ListenOverflows of this story spread over 950-1270 (measured)


def test_model_predicts_what_the_kernel_does_with_nginx_and_curl(tmp_path: Path) -> None:
    """The model against KERNEL_RUNS runs of the story. One run of the kernel draws its own
    placement of nginx, wake-ups and jiffies phase, and spreads far wider than the model's
    draws of them (measured: 950-1270 ListenOverflows against the model's SD of 6-100). The
    claim tested: the model's median lies within what the kernel's own runs span, give or
    take 3 SD of the model's draws or MODEL_BIAS of the kernel's median, whichever is more.
    (The model is biased high here, an open finding of the issue "The model must hold under
    bursts": five kernel runs can cluster, 994-1009 in one CI run, while the model said 1084.)"""
    stories = []
    for k in range(KERNEL_RUNS):
        (tmp_path / str(k)).mkdir()
        stories.append(run_nginx_story(tmp_path / str(k)))
    for counters, times in stories:
        assert len(times) == CLIENTS  # every transfer completed
        assert counters["TcpExtSyncookiesSent"] > 0, counters  # the synchronized wave got cookies
    # As `tcpq compare` does it: the model with this machine's measured host.
    scenario, _ = with_measured_host(scenario_from_dict(SCENARIO))
    runs = [simulate(scenario), *(simulate(scenario, draw_seed=k) for k in range(1, DRAW_SEEDS + 1))]
    outside = []
    for name in COUNTERS:
        model = [float(run.counters[name]) for run in runs]
        kernel = [float(counters[name]) for counters, _ in stories]
        if not within_runs(model, kernel):
            outside.append((name, statistics.median(model), kernel))
    model_p50 = [run.clients.connect_time_s.p50 or 0.0 for run in runs]
    kernel_p50 = [times[len(times) // 2] for _, times in stories]
    if not within_runs(model_p50, kernel_p50):
        outside.append(("connect_time_s.p50", statistics.median(model_p50), kernel_p50))
    assert not outside, outside


# How far the model's median may sit outside the kernel runs' range, as a share of the
# kernel's median. Measured on this story: the model's ListenOverflows with four calibrations
# of one machine 1006-1049, and 1084 in a CI run whose calibration was taken under the suite's
# load, against eight kernel runs of 940-1103 (median 1010): up to 8 % above the kernel's
# median. It still fails a model that miscounts one round of SYN retransmissions: the ~235
# clients the full accept queue turns away overflow once per round, 23 % of the total.
MODEL_BIAS = 0.12


def within_runs(model: list[float], kernel: list[float]) -> bool:
    """Is the model's median inside the kernel runs' range, widened by 3 SD of the model or
    MODEL_BIAS of the kernel's median?"""
    slack = max(3 * statistics.stdev(model), MODEL_BIAS * statistics.median(kernel))
    return min(kernel) - slack <= statistics.median(model) <= max(kernel) + slack
