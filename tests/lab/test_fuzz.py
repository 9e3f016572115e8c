"""`tcpq lab fuzz`: the scenario generator, the cause grouping, bad input, and (root) a real run."""

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from tcpq.app import fuzz
from tcpq.app.fuzz_causes import LAB_ERROR, FuzzCase, FuzzReport, group_causes, metric_family, most_telling
from tcpq.app.fuzz_scenarios import (
    MAX_ATTACK_BURST,
    MAX_ATTACK_RATE,
    MAX_BACKLOG,
    MAX_BURST,
    MAX_BURST_WITH_RTT,
    MAX_CLIENT_RATE,
    MAX_CLIENTS,
    draw_scenario,
    draw_scenarios,
    rng_for,
    to_toml,
)
from tcpq.cli import main
from tcpq.compare import Comparison, MetricRow
from tcpq.errors import TcpqError
from tcpq.report.fuzz import fuzz_dict, render_fuzz
from tcpq.scenario import Scenario, expected_attempts, load_scenario, scenario_from_dict

US = 1_000_000
DRAWS = 500
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (CI runs as root)")


def drawn(seed: int = 1, count: int = DRAWS) -> list[tuple[dict[str, object], Scenario]]:
    return [(data, scenario_from_dict(data, "fuzz")) for data in draw_scenarios(seed, count)]


# -- the generator -----------------------------------------------------------------------------------


def test_every_draw_validates_and_respects_the_bounds() -> None:
    for data, scenario in drawn():
        where = data["name"]
        assert 0 < scenario.duration <= 10 * US, where
        clients = sum(expected_attempts(group, scenario.duration) for group in scenario.clients)
        assert 1 <= clients <= MAX_CLIENTS, where
        assert sum(group.rate or 0 for group in scenario.clients) <= MAX_CLIENT_RATE, where
        assert all(group.count is None or 1 <= group.count <= MAX_BURST for group in scenario.clients)
        assert all(group.sources == 1 for group in scenario.clients), where  # lab-reproducible
        assert len({group.request for group in scenario.clients}) == 1, where
        assert 0 <= scenario.server.backlog <= MAX_BACKLOG, where
        assert scenario.network.loss == 0 and scenario.kernel.version is None, where
        assert scenario.network.rtt in {0, *(ms * 1000 for ms in (2, 5, 10, 20))}, where
        if scenario.network.rtt:  # a burst the lab's user-space link can carry at the kernel's pace
            assert all((group.count or 0) <= MAX_BURST_WITH_RTT for group in scenario.clients), where
        assert set(scenario.kernel.sysctl) == {"net.ipv4.tcp_syncookies", "net.ipv4.tcp_abort_on_overflow"}
        assert scenario.kernel.sysctl["net.ipv4.tcp_syncookies"] in (0, 1, 2)
        assert scenario.kernel.sysctl["net.ipv4.tcp_abort_on_overflow"] in (0, 1)
        assert not scenario.kernel.server_sysctl and not scenario.kernel.client_sysctl
        rule = scenario.network.filter
        if rule is not None:
            assert rule.from_ < scenario.duration and (rule.until is None or rule.from_ < rule.until)
        attack = scenario.attack
        if attack is not None:
            assert attack.rate is None or attack.rate <= MAX_ATTACK_RATE, where
            assert attack.count is None or attack.count <= MAX_ATTACK_BURST, where
            assert expected_attempts(attack, scenario.duration) <= MAX_ATTACK_RATE * 10


def test_durations_are_mostly_short() -> None:
    durations = [scenario.duration / US for _, scenario in drawn()]
    assert sum(1 <= d <= 5 for d in durations) >= 0.8 * len(durations)
    assert 1.5 <= sum(durations) / len(durations) <= 5


def test_the_draws_cover_the_space() -> None:
    seen: Counter[str] = Counter()
    for _, scenario in drawn():
        server = scenario.server
        if server.workers is not None:
            assert server.service_time is not None
            seen[f"workers-{server.service_time.distribution.value}"] += 1
        else:
            seen[f"accept-{'rate' if isinstance(server.accept, float) else server.accept}"] += 1
        seen["accept_after"] += server.accept_after > 0
        for group in scenario.clients:
            seen["burst" if group.count is not None else f"rate-{group.arrival}"] += 1
            seen["request"] += group.request
            seen["close_after"] += "close_after" in group.model_fields_set
            seen["connect_timeout"] += group.connect_timeout is not None
        seen["two-groups"] += len(scenario.clients) == 2
        for name, value in scenario.kernel.sysctl.items():
            seen[f"{name.rsplit('.', 1)[1]}={value}"] += 1
        seen["rtt"] += scenario.network.rtt > 0
        if scenario.network.filter is not None:
            seen[f"filter-{scenario.network.filter.drop}"] += 1
        if scenario.attack is not None:
            seen["attack-rate" if scenario.attack.rate is not None else "attack-burst"] += 1
    wanted = [
        "accept-never", "accept-immediate", "accept-rate", "workers-fixed", "workers-exp",
        "accept_after", "burst", "rate-uniform", "rate-poisson", "request", "close_after",
        "connect_timeout", "two-groups", "tcp_syncookies=0", "tcp_syncookies=1", "tcp_syncookies=2",
        "tcp_abort_on_overflow=0", "tcp_abort_on_overflow=1", "rtt", "filter-bare_ack",
        "filter-non_syn", "attack-rate", "attack-burst",
    ]  # fmt: skip
    assert [feature for feature in wanted if seen[feature] < 5] == []


def test_same_seed_same_scenarios_and_each_one_alone() -> None:
    first, again = draw_scenarios(7, 40), draw_scenarios(7, 40)
    assert first == again
    assert draw_scenario(rng_for(7, 23), 23, name="fuzz-7-23") == first[22]
    assert draw_scenarios(7, 10) == first[:10]  # N does not change scenario K
    assert draw_scenarios(8, 40) != first


def test_different_index_different_scenario() -> None:
    bodies = [json.dumps({**data, "name": None}, sort_keys=True) for data in draw_scenarios(3, 200)]
    assert len(set(bodies)) == len(bodies)


def test_toml_round_trips_and_loads_as_the_same_scenario(tmp_path: Path) -> None:
    for data, scenario in drawn(count=100):
        text = to_toml(data, "a header\nover two lines")
        assert text.startswith("# a header\n# over two lines\n")
        assert tomllib.loads(text) == data
        path = tmp_path / f"{data['name']}.toml"
        path.write_text(text)
        assert load_scenario(path) == scenario


def test_toml_quotes_dotted_keys_and_escapes_strings() -> None:
    text = to_toml({"name": 'a "b"\nc', "kernel": {"sysctl": {"net.core.somaxconn": 8}}})
    assert '"net.core.somaxconn" = 8' in text and "[kernel.sysctl]" in text
    assert tomllib.loads(text)["name"] == 'a "b"\nc'


# -- cause grouping ----------------------------------------------------------------------------------


def row(metric: str, sim: float = 1, lab: float = 9, ok: bool = False) -> MetricRow:
    return MetricRow(metric, sim, lab, lab - sim, 2, ok)


def case(index: int, *metrics: str, error: str | None = None) -> FuzzCase:
    rows = tuple(row(metric) for metric in metrics)
    return FuzzCase(index, f"fuzz-1-{index}", agrees=not rows and error is None, differing=rows, error=error)


def test_percentiles_form_one_family_counters_their_own() -> None:
    assert metric_family("connect_time_s.p90") == "connect_time_s"
    assert metric_family("response_time_s.max") == "response_time_s"
    assert metric_family("counters.TcpExtListenOverflows") == "counters.TcpExtListenOverflows"
    assert metric_family("clients.pending") == "clients.pending"
    differing = case(1, "connect_time_s.p50", "connect_time_s.p99", "clients.pending")
    assert differing.families == ["clients.pending", "connect_time_s"]


def test_the_most_telling_family() -> None:
    mechanism = ["connect_time_s", "clients.connected", "counters.TcpExtListenDrops"]
    assert most_telling([*mechanism, "counters.TcpExtListenOverflows"]) == "counters.TcpExtListenOverflows"
    assert most_telling(mechanism) == "counters.TcpExtListenDrops"  # a counter before an outcome
    assert most_telling(["counters.TcpPassiveOpens", "client_counters.TcpExtTCPTimeWaitOverflow"]) == (
        "client_counters.TcpExtTCPTimeWaitOverflow"  # the mechanism, even on the client side
    )
    assert most_telling(["client_counters.TcpExtTCPSynRetrans", "counters.TcpExtTCPSynRetrans"]) == (
        "counters.TcpExtTCPSynRetrans"  # same counter: the server's
    )
    assert most_telling(["counters.TcpExtListenOverflows", "clients.attempted"]) == "clients.attempted"
    assert most_telling(["clients.pending", "listener.accept_queue_peak"]) == "listener.accept_queue_peak"
    assert most_telling(["response_time_s", "connect_time_s"]) == "connect_time_s"
    assert most_telling(["counters.TcpExtSomethingNew", "clients.pending"]) == "counters.TcpExtSomethingNew"
    assert most_telling([]) is None


def test_group_causes_counts_and_orders() -> None:
    cases = [
        case(1),
        case(2, "counters.TcpExtListenOverflows", "connect_time_s.p90"),
        case(3, "connect_time_s.p50"),
        case(4, "clients.pending", "counters.TcpExtListenOverflows"),
        case(5, error="the lab's server did not start: boom"),
        case(6),
    ]
    groups = group_causes(cases)
    assert [(group.cause, group.count) for group in groups] == [
        ("counters.TcpExtListenOverflows", 2),
        ("connect_time_s", 1),
        (LAB_ERROR, 1),
    ]
    assert [c.index for c in groups[0].cases] == [2, 4]
    assert group_causes([case(1), case(2)]) == ()


def test_report_json_and_terminal_at_80_columns() -> None:
    overflows, skipped = (
        row("counters.TcpExtListenOverflows"),
        row("client_counters.TcpExtTCPACKSkippedSynRecv"),
    )
    cases = (
        case(1),
        FuzzCase(2, "fuzz-1-2", False, (overflows,), file="d/fuzz-1-2.toml"),
        FuzzCase(3, "fuzz-1-3", False, (skipped,), file="d/fuzz-1-3.toml"),
    )
    report = FuzzReport(1, 5, "6.18.44", cases, group_causes(cases), "d", interrupted=True)
    data = json.loads(json.dumps(fuzz_dict(report)))
    assert data["agree_share"] == pytest.approx(1 / 3, abs=1e-3) and data["interrupted"] is True
    assert [s.get("file") for s in data["scenarios"]] == [None, "d/fuzz-1-2.toml", "d/fuzz-1-3.toml"]
    assert data["scenarios"][1]["differing"] == ["counters.TcpExtListenOverflows"]
    assert data["causes"]["counters.TcpExtListenOverflows"] == {
        "count": 1,
        "scenarios": ["fuzz-1-2"],
        "files": ["d/fuzz-1-2.toml"],
    }
    console = Console(width=80, record=True, color_system=None)
    console.print(render_fuzz(report))
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "1 of 3 scenarios agree (33 %)" in text and "interrupted" in text
    assert "client_counters.TcpExtTCPACKSkippedSynRecv" in text.replace("\n", "").replace(" ", "")
    assert "sudo .venv/bin/tcpq compare d/fuzz-1-2.toml" in text


# -- running (the lab replaced by a stand-in) -------------------------------------------------------


class FakeCompare:
    """compare_scenario's stand-in: scenario K agrees when K is odd, fails in the lab at `fail`,
    and the user presses Ctrl-C at `stop`."""

    def __init__(self, fail: int = 0, stop: int = 0) -> None:
        self.fail, self.stop = fail, stop
        self.seen: list[tuple[int, str]] = []

    def __call__(self, scenario: Scenario, *, origin: str, on_progress: Callable[[float], None]) -> Any:
        index = int(scenario.name.rsplit("-", 1)[1])
        self.seen.append((index, origin))
        on_progress(0.5)
        if index == self.stop:
            raise KeyboardInterrupt
        if index == self.fail:
            raise TcpqError("the lab's server did not start:\n boom")
        rows = [row("clients.connected", 5, 5, ok=True)]
        if index % 2 == 0:
            rows += [row("connect_time_s.p90", 1, 3), row("counters.TcpExtListenOverflows", 4, 9)]
        return SimpleNamespace(comparison=Comparison(scenario.name, rows, []))


def test_run_fuzz_keeps_disagreements_and_stops_on_ctrl_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeCompare(fail=3, stop=5)
    monkeypatch.setattr(fuzz, "compare_scenario", fake)
    keep = tmp_path / "kept"
    progress: list[tuple[float, str]] = []
    report = fuzz.run_fuzz(9, 8, keep, on_progress=lambda done, label: progress.append((done, label)))
    assert report.interrupted and fuzz.exit_status(report) == 130
    assert [case.index for case in report.cases] == [1, 2, 3, 4] and report.requested == 8
    assert [index for index, _ in fake.seen] == [1, 2, 3, 4, 5]
    assert fake.seen[0][1] == str(keep / "fuzz-9-1.toml")
    assert (3.5, "4/8 fuzz-9-4") in progress and (0.0, "1/8 fuzz-9-1") in progress
    assert sorted(path.name for path in keep.iterdir()) == ["fuzz-9-2.toml", "fuzz-9-3.toml", "fuzz-9-4.toml"]
    assert [case.file for case in report.cases] == [
        None,
        *(str(keep / f"fuzz-9-{k}.toml") for k in (2, 3, 4)),
    ]
    assert [(group.cause, group.count) for group in report.causes] == [
        ("counters.TcpExtListenOverflows", 2),
        (LAB_ERROR, 1),
    ]
    assert report.cases[2].error == "the lab's server did not start: boom"
    header = (keep / "fuzz-9-2.toml").read_text()
    assert f"# Reproduce: sudo .venv/bin/tcpq compare {keep / 'fuzz-9-2.toml'}\n" in header
    assert "#   counters.TcpExtListenOverflows: model 4, kernel 9" in header
    assert "connect_time_s.p90" in header and "clients.connected" not in header
    assert "could not run it: the lab's server did not start" in (keep / "fuzz-9-3.toml").read_text()
    redrawn = scenario_from_dict(draw_scenario(rng_for(9, 2), 2, name="fuzz-9-2"))
    assert load_scenario(keep / "fuzz-9-2.toml") == redrawn


def test_run_fuzz_exit_status_and_no_directory_when_all_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fuzz, "compare_scenario", FakeCompare())
    report = fuzz.run_fuzz(1, 1, tmp_path / "none")
    assert fuzz.exit_status(report) == 0 and report.agree_share == 1.0 and report.keep_dir is None
    assert not (tmp_path / "none").exists()
    report = fuzz.run_fuzz(1, 2, tmp_path / "some")
    assert fuzz.exit_status(report) == 1 and report.agree_share == 0.5
    assert report.keep_dir == str(tmp_path / "some") and (tmp_path / "some" / "fuzz-1-2.toml").exists()


# -- the command -------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", ["0", "-1", "1001", "ten"])
def test_bad_count_is_one_error_line(count: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["lab", "fuzz", count, "--keep", str(tmp_path / "k")])
    assert result.exit_code == 2
    assert result.output.startswith("tcpq: error: N must") and result.output.count("\n") == 1
    assert not (tmp_path / "k").exists()


def test_unwritable_keep_dir_is_one_error_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for keep in (blocker, blocker / "sub", Path("/proc/tcpq-fuzz-test")):  # /proc: not even root
        result = CliRunner().invoke(main, ["lab", "fuzz", "2", "--seed", "1", "--keep", str(keep)])
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"tcpq: error: --keep {keep}: ") and result.output.count("\n") == 1
        assert "Traceback" not in result.output


@root_only
def test_fuzz_two_scenarios_end_to_end(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    result = CliRunner().invoke(main, ["lab", "fuzz", "2", "--seed", "1", "--json", "--keep", str(keep)])
    assert result.exit_code in (0, 1), result.output
    data = json.loads(result.stdout)
    assert data["seed"] == 1 and data["requested"] == 2 and data["finished"] == 2
    assert [s["name"] for s in data["scenarios"]] == ["fuzz-1-1", "fuzz-1-2"]
    disagreeing = [s for s in data["scenarios"] if not s["agrees"]]
    assert result.exit_code == (1 if disagreeing else 0)
    assert data["agree_share"] == (2 - len(disagreeing)) / 2
    assert sum(cause["count"] for cause in data["causes"].values()) == len(disagreeing)
    for entry in data["scenarios"]:
        assert ("file" in entry) == (not entry["agrees"])
    for entry in disagreeing:
        path = Path(entry["file"])
        assert path.parent == keep and path.name == f"{entry['name']}.toml"
        assert entry["differing"] or "error" in entry
        text = path.read_text()
        assert f"# Reproduce: sudo .venv/bin/tcpq compare {path}" in text
        assert all(metric in text for metric in entry["differing"])
        assert entry["cause"] in data["causes"] and entry["file"] in data["causes"][entry["cause"]]["files"]
        index = int(entry["name"].rsplit("-", 1)[1])
        redrawn = draw_scenario(rng_for(1, index), index, name=path.stem)
        assert load_scenario(path) == scenario_from_dict(redrawn)
    kept = sorted(path.name for path in keep.iterdir()) if keep.exists() else []
    assert kept == sorted(f"{entry['name']}.toml" for entry in disagreeing)  # made only when needed


def lab_namespaces(pid: int) -> list[str]:
    """The namespaces of the tcpq process `pid` (other lab runs may be going on meanwhile)."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in listing.splitlines() if line.startswith(f"tcpq-{pid}-")]


@root_only
def test_ctrl_c_stops_cleanly_and_still_reports(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "tcpq",
        "lab",
        "fuzz",
        "3",
        "--seed",
        "1",
        "--json",
        "--keep",
        str(tmp_path),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not lab_namespaces(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lab_namespaces(proc.pid), "the lab did not start"
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    data = json.loads(out)
    assert data["interrupted"] is True and data["finished"] < data["requested"] == 3
    assert len(data["scenarios"]) == data["finished"]
    assert b"Traceback" not in err
    assert lab_namespaces(proc.pid) == []
