"""`tcpq sweep`: the points are the cross product with their keys applied, each point's runs are
what `tcpq simulate --set ... --seed ...` gives, the results do not depend on --jobs or on a Dask
cluster, the JSON holds what the docs say, bad input is one line and exit 2."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tcpq.app.sweep import Goal, Stat, aggregate, parse_goal, plan_sweep, random_draws, stat
from tcpq.app.sweep_run import run_sweep
from tcpq.cli import main
from tcpq.report.sweep import render_sweep, sweep_dict
from tcpq.scenario import load_scenario

from ..cli_helpers import simulate_json
from ..golden import render

ROOT = Path(__file__).resolve().parent.parent.parent
JAVA = ROOT / "examples" / "java-backlog-50.toml"  # draws at random: service times, wake-ups
NGINX = ROOT / "examples" / "nginx-somaxconn-128.toml"
NOBODY = ROOT / "examples" / "backlog-nobody-accepts.toml"
SOMAXCONN = "kernel.sysctl.net.core.somaxconn"


def sweep(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["sweep", *args])
    return result.exit_code, result.stdout, result.stderr


def sweep_json(*args: str) -> dict[str, Any]:
    code, out, err = sweep(*args, "--json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def test_the_points_are_the_cross_product_with_each_key_applied() -> None:
    plan = plan_sweep(NGINX, vary=[f"{SOMAXCONN}=128,1024", "server.backlog=16,64,511"], seeds=2)
    assert len(plan.points) == 6 and len(plan.tasks) == 12
    assert [dict(point.settings) for point in plan.points] == [
        {SOMAXCONN: somaxconn, "server.backlog": backlog}
        for somaxconn in (128, 1024)
        for backlog in (16, 64, 511)
    ]
    for task in plan.tasks:
        settings = dict(plan.points[task.point].settings)
        assert task.scenario.server.backlog == settings["server.backlog"]
        assert task.scenario.kernel.sysctl["net.core.somaxconn"] == settings[SOMAXCONN]
    # seeds: the scenario's seed (1) + 0 and + 1, for every point
    assert [task.seed for task in plan.tasks] == [1, 2] * 6


def test_a_point_is_what_simulate_with_that_set_and_seed_gives() -> None:
    data = sweep_json(str(JAVA), "--vary", "server.backlog=16,128", "--seeds", "2", "--jobs", "1")
    for point, backlog in zip(data["points"], (16, 128), strict=True):
        assert point["settings"] == {"server.backlog": backlog}
        assert point["seeds"] == [3, 4]  # java-backlog-50 has seed = 3
        for k, seed in enumerate(point["seeds"]):
            direct = simulate_json(JAVA, f"server.backlog={backlog}", f"seed={seed}")
            metrics = point["metrics"]
            assert (
                metrics["counters.TcpExtListenOverflows"]["values"][k]
                == direct["counters"]["TcpExtListenOverflows"]
            )
            assert metrics["clients.connected"]["values"][k] == direct["clients"]["connected"]
            assert metrics["connect_time_s.p99"]["values"][k] == direct["clients"]["connect_time_s"]["p99"]
    # the seeds really differ here (exponential service times move the retransmission waves'
    # connect times), so min–max is not a formality
    connect_p99 = data["points"][1]["metrics"]["connect_time_s.p99"]
    assert connect_p99["min"] < connect_p99["max"]


def test_the_results_are_the_same_for_one_and_two_processes() -> None:
    args = (str(NGINX), "--vary", f"{SOMAXCONN}=128,4096", "--vary", "server.backlog=64,511", "--seeds", "3")
    one = sweep_json(*args, "--jobs", "1")
    two = sweep_json(*args, "--jobs", "2")
    assert one == two
    assert one["runs"] == 12


def test_the_results_are_the_same_on_a_dask_cluster() -> None:
    distributed = pytest.importorskip("distributed")
    vary = [f"{SOMAXCONN}=128,4096", "server.backlog=64,511"]
    local = run_sweep(NGINX, vary=vary, seeds=2, jobs=2)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = run_sweep(NGINX, vary=vary, seeds=2, scheduler=cluster.scheduler_address)
    assert sweep_dict(remote) == sweep_dict(local)


def test_without_distributed_scheduler_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` raises ImportError
    code, out, err = sweep(str(JAVA), "--vary", "server.backlog=16", "--scheduler", "tcp://127.0.0.1:8786")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "tcpq[cluster]" in err and "Traceback" not in err


def test_the_json_schema() -> None:
    data = sweep_json(
        str(JAVA),
        "--vary",
        "server.backlog=16,511",
        "--seeds",
        "2",
        "--metric",
        "listener.accept_queue_peak",
        "--metric",
        "connect_time_s.p50",
        "--goal",
        "connect_time_s.p99<0.5",
    )
    assert list(data) == [
        "scenario",
        "file",
        "overrides",
        "vary",
        "seeds",
        "metrics",
        "goals",
        "runs",
        "points",
    ]
    assert data["scenario"] == "java-backlog-50" and data["vary"] == [
        {"key": "server.backlog", "values": [16, 511]}
    ]
    # a goal's metric is shown even when not asked for
    assert data["metrics"] == ["listener.accept_queue_peak", "connect_time_s.p50", "connect_time_s.p99"]
    assert data["goals"] == [
        {"metric": "connect_time_s.p99", "op": "<", "value": 0.5, "text": "connect_time_s.p99<0.5"}
    ]
    assert data["runs"] == 4 and len(data["points"]) == 2
    for index, point in enumerate(data["points"]):
        assert set(point) == {"index", "settings", "seeds", "random_draws", "metrics", "meets_goal"}
        assert point["index"] == index and point["random_draws"]
        for entry in point["metrics"].values():
            assert set(entry) == {"mean", "min", "max", "values"} and len(entry["values"]) == 2
            assert entry["min"] <= entry["mean"] <= entry["max"]
        p99 = point["metrics"]["connect_time_s.p99"]["values"]
        assert point["meets_goal"] == all(value < 0.5 for value in p99)
    # listen(16): SYNs dropped, retried after 1 s; listen(511): everyone fits at once
    assert [point["meets_goal"] for point in data["points"]] == [False, True]


def test_a_point_without_random_draws_runs_once(tmp_path: Path) -> None:
    scenario = load_scenario(NOBODY, ["host.hz=0"])
    assert random_draws(scenario) == []
    data = sweep_json(str(NOBODY), "--set", "host.hz=0", "--vary", "server.backlog=2,8", "--seeds", "3")
    assert data["runs"] == 2 and [point["seeds"] for point in data["points"]] == [[1], [1]]
    # as it says: another seed gives the same run
    assert (
        simulate_json(NOBODY, "host.hz=0", "seed=1")["counters"]
        == simulate_json(NOBODY, "host.hz=0", "seed=2")["counters"]
    )


def test_aggregate_by_hand() -> None:
    assert stat([3.0, None, 1.0]) == Stat(2.0, 1.0, 3.0, (3.0, None, 1.0))
    assert stat([None, None]).mean is None
    goal = parse_goal("connect_time_s.p99 <= 0.1")
    assert goal == Goal("connect_time_s.p99", "<=", 0.1)
    assert goal.holds([0.1, 0.05]) and not goal.holds([0.1, 0.2]) and not goal.holds([0.05, None])
    plan = plan_sweep(NOBODY, vary=["server.backlog=2,8"], seeds=2, goals=["clients.connected>=5"])
    # (connected, timed out, connect p99, ListenOverflows) of each run, in (point, seed) order
    results = [(1.0, 0.0, None, 4.0)] * 2 + [(6.0, 0.0, 0.5, 0.0), (5.0, 0.0, 0.7, 0.0)]
    swept = aggregate(plan, results)
    assert [point.meets_goal for point in swept.points] == [False, True]
    connected = swept.points[1].stats["clients.connected"]
    assert (connected.mean, connected.min, connected.max, connected.values) == (5.5, 5.0, 6.0, (6.0, 5.0))


def test_the_table_fits_80_columns() -> None:
    metrics = [
        "clients.connected",
        "clients.timed_out",
        "clients.refused",
        "connect_time_s.p50",
        "connect_time_s.p99",
        "response_time_s.p99",
        "counters.TcpExtListenOverflows",
        "counters.TcpExtListenDrops",
        "client_counters.TcpExtTCPSynRetrans",
    ]
    args = ["server.backlog=16,50", "server.workers=5,10"]
    result = run_sweep(JAVA, vary=args, seeds=2, metrics=metrics, goals=["connect_time_s.p99<1.1"])
    text = render(render_sweep(result), 80)
    assert max(len(line) for line in text.splitlines()) <= 80
    for header in ("ListenOverflows", "client TCPSynRetrans", "response p99", "connect p50", "goal"):
        assert header in text
    assert "seed + 0..1" in text  # the seeds are said


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--vary", "server.backlg=1,2"], "server.backlg: unknown key"),
        (["--vary", "server.backlog=abc"], "--vary server.backlog=abc"),
        (["--vary", "server.backlog="], "empty value"),
        (["--vary", "server.backlog=1,,2"], "empty value"),
        (["--vary", "kernel.sysctl.net.core.somaxcon=1"], "unknown sysctl"),
        (["--vary", "server.backlog=1,1"], "given twice"),
        (["--vary", "server.backlog=1", "--vary", "server.backlog=2"], "given twice"),
        (
            [
                "--vary",
                "server.port=" + ",".join(map(str, range(1, 102))),
                "--vary",
                "server.backlog=" + ",".join(map(str, range(1, 101))),
            ],
            "10,100 points; the limit is 10,000",
        ),
        (["--vary", "server.backlog=1", "--jobs", "0"], "--jobs 0"),
        (["--vary", "server.backlog=1", "--seeds", "0"], "--seeds 0"),
        (["--vary", "server.backlog=1", "--metric", "counters.ListenOverflows"], "did you mean"),
        (["--vary", "server.backlog=1", "--goal", "p99 under 0.1"], "--goal"),
        (["--vary", "server.workers=0,5"], "server.workers"),
        ([], "--vary"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    code, out, err = sweep(str(JAVA), *args)
    assert code == 2 and out == ""
    assert err.startswith("tcpq: error: ") and err.count("\n") == 1 and says in err, err


def test_ctrl_c_stops_the_workers_and_exits_130() -> None:
    """SIGINT to the whole process group, as a terminal sends it: no traceback, no worker left."""
    values = ",".join(str(n) for n in range(1, 301))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tcpq",
            "sweep",
            str(NGINX),
            "--vary",
            f"server.backlog={values}",
            "--jobs",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # not ignored as in `cmd &`
    )
    group: list[str] = []
    deadline = time.monotonic() + 30
    while len(group) < 3 and time.monotonic() < deadline:  # the sweep and its two workers
        time.sleep(0.1)
        group = subprocess.run(
            ["pgrep", "-g", str(process.pid)], capture_output=True, text=True
        ).stdout.split()
    assert len(group) >= 3, "the workers never started"
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert b"Traceback" not in err and err.decode().endswith("tcpq: interrupted\n") and out == b""
    time.sleep(0.2)
    left = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert left == []
