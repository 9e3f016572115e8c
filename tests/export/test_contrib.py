"""contrib/: the alerting rules, the dashboard and the systemd unit agree with the exporter.

Every metric name the rules and the dashboard use must be in tcpq.export.metrics.METRICS, so a
renamed metric fails here rather than in a fleet's silent dashboards. promtool checks the rules'
syntax and runs their unit tests (contrib/prometheus/tcpq-rules.test.yml); systemd-analyze
verifies the unit. Both skip with a reason where the tool is absent (CI installs them).
"""

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tcpq.export.metrics import METRICS, Kind
from tests.observe.nslab import listener, namespace, require_root_netns

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "contrib/prometheus/tcpq-rules.yml"
RULES_TEST = ROOT / "contrib/prometheus/tcpq-rules.test.yml"
DASHBOARD = ROOT / "contrib/grafana/tcpq-dashboard.json"
UNIT = ROOT / "contrib/systemd/tcpq-export.service"

EXPORTED = {spec.name: spec for spec in METRICS}
METRIC_TOKEN = re.compile(r"\btcpq_[a-z0-9_]+\b")  # PromQL identifiers of this exporter
RATED = re.compile(r"\b(?:rate|irate|increase)\(\s*(tcpq_[a-z0-9_]+)")
LISTENER_ALERTS = ("TcpqListenerAcceptQueueOverflow", "TcpqListenerClampedBySomaxconnDropping")


def metric_names(expression: str) -> set[str]:
    return set(METRIC_TOKEN.findall(expression))


# ---------------------------------------------------------------- the rules file, without PyYAML


def _scalar(lines: list[str], key: str) -> str | None:
    """The value of `key:` in a rule block: inline, quoted, or a folded (`>-`) block."""
    for index, line in enumerate(lines):
        match = re.match(rf"^(\s*){key}:\s*(.*)$", line)
        if match is None:
            continue
        indent, value = len(match.group(1)), match.group(2).strip()
        if value not in (">-", ">", "|", "|-"):
            return value[1:-1] if value[:1] in "\"'" and value[-1:] == value[:1] else value
        folded = []
        for follower in lines[index + 1 :]:
            if follower.strip() and len(follower) - len(follower.lstrip()) <= indent:
                break
            folded.append(follower.strip())
        return " ".join(part for part in folded if part)
    return None


def alert_rules() -> dict[str, dict[str, str]]:
    """alert name → {expr, summary, description, runbook} from contrib/prometheus/tcpq-rules.yml."""
    text = "\n".join(line for line in RULES.read_text().splitlines() if not line.lstrip().startswith("#"))
    blocks = re.split(r"^\s*- alert:\s*", text, flags=re.MULTILINE)[1:]
    rules: dict[str, dict[str, str]] = {}
    for block in blocks:
        name, *lines = block.splitlines()
        fields = {key: _scalar(lines, key) for key in ("expr", "summary", "description", "runbook")}
        rules[name.strip()] = {key: value for key, value in fields.items() if value is not None}
    return rules


def test_the_rule_reader_sees_every_alert() -> None:
    """The reader below is what the name checks rely on: it must find all rules and their exprs."""
    rules = alert_rules()
    assert len(rules) == RULES.read_text().count("- alert:")
    assert rules["TcpqListenerAcceptQueueOverflow"]["expr"] == "rate(tcpq_listener_drops_total[1m]) > 0"
    clamped = rules["TcpqListenerClampedBySomaxconnDropping"]["expr"]
    assert metric_names(clamped) == {"tcpq_listener_drops_total", "tcpq_listener_clamped_by_somaxconn"}


def test_a_renamed_metric_is_caught() -> None:
    expression = "rate(tcpq_listener_dropped_total[1m]) > 0 and tcpq_netns_up == 0"
    assert metric_names(expression) - EXPORTED.keys() == {"tcpq_listener_dropped_total"}


def test_rules_use_only_exported_metrics() -> None:
    for name, rule in alert_rules().items():
        used = set().union(*(metric_names(value) for value in rule.values()))
        assert used <= EXPORTED.keys(), f"{name}: not exported: {sorted(used - EXPORTED.keys())}"


def test_rules_cover_the_issue_alerts() -> None:
    wanted = {
        "tcpq_listener_drops_total",
        "tcpq_syn_queue_full_drops_total",
        "tcpq_syncookies_sent_total",
        "tcpq_listener_clamped_by_somaxconn",
        "tcpq_netns_up",
    }
    used = set().union(*(metric_names(rule["expr"]) for rule in alert_rules().values()))
    assert wanted <= used


def test_rules_rate_only_counters() -> None:
    for name, rule in alert_rules().items():
        for metric in RATED.findall(rule["expr"]):
            assert EXPORTED[metric].kind is Kind.COUNTER, f"{name}: rate() of gauge {metric}"


def test_rules_annotations_name_the_listener_and_the_runbook() -> None:
    for name, rule in alert_rules().items():
        assert {"summary", "description", "runbook"} <= rule.keys(), name
        assert "tcpq doctor" in rule["runbook"], name
        if "$labels.netns" in rule["expr"] or "netns" in rule["summary"]:
            assert "--netns" in rule["runbook"], name
    for name in LISTENER_ALERTS:
        for field in ("summary", "description"):
            text = alert_rules()[name][field]
            for label in ("netns", "address", "port", "process"):
                assert f"$labels.{label}" in text, f"{name} {field} lacks {label}"


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"needs {tool} (CI installs it: Debian's prometheus / systemd)")
    return path


def test_promtool_checks_the_rules() -> None:
    promtool = require("promtool")
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_the_rules_fire_where_they_should() -> None:
    """promtool's unit tests: each alert fires for exactly the series meant, with these annotations."""
    promtool = require("promtool")
    result = subprocess.run(
        [promtool, "test", "rules", RULES_TEST.name], capture_output=True, text=True, cwd=RULES_TEST.parent
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname:\s*(\w+)", RULES_TEST.read_text()))
    assert tested == alert_rules().keys()


# ---------------------------------------------------------------- dashboard


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield from panel.get("panels", [])  # rows may hold panels
        if panel.get("type") != "row":
            yield panel


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in dashboard_panels() for target in panel["targets"]]


def test_dashboard_is_grafana_json_with_a_netns_variable() -> None:
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    query = variables["netns"]["query"]
    query = query["query"] if isinstance(query, dict) else query
    assert re.fullmatch(r"label_values\(tcpq_netns_up(\{.*\})?,\s*netns\)", query), query
    ids = [panel["id"] for panel in dashboard_panels()]
    assert len(ids) == len(set(ids))


def test_dashboard_panels_query_exported_metrics() -> None:
    for panel in dashboard_panels():
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = metric_names(target["expr"])
            assert used, f"{panel['title']}: {target['expr']}"
            assert used <= EXPORTED.keys(), (
                f"{panel['title']}: not exported: {sorted(used - EXPORTED.keys())}"
            )
            for metric in RATED.findall(target["expr"]):
                assert EXPORTED[metric].kind is Kind.COUNTER, f"{panel['title']}: rate() of gauge {metric}"
            if any("netns" in EXPORTED[metric].labels for metric in used):
                assert "$netns" in target["expr"], f"{panel['title']}: ignores the netns variable"


def test_dashboard_shows_what_the_issue_asks() -> None:
    used = set().union(*(metric_names(expression) for expression in dashboard_expressions()))
    assert {
        "tcpq_listener_drops_total",
        "tcpq_listener_accept_queue",
        "tcpq_listener_accept_queue_limit",
        "tcpq_listener_syn_recv",
        "tcpq_syncookies_sent_total",
        "tcpq_syncookies_recv_total",
        "tcpq_syncookies_failed_total",
        "tcpq_listen_overflows_total",
        "tcpq_sockets",
        "tcpq_scrape_duration_seconds",
    } <= used
    fill = next(e for e in dashboard_expressions() if "tcpq_listener_accept_queue_limit" in e)
    assert re.search(r"/\s*\(\s*tcpq_listener_accept_queue_limit\{[^}]*\}\s*\+\s*1\s*\)", fill), fill


def test_dashboard_expressions_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each panel query, given as a recording rule with Grafana's variables filled."""
    promtool = require("promtool")
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for index, expression in enumerate(dashboard_expressions()):
        concrete = expression.replace("$__rate_interval", "5m").replace("$instance", ".*")
        concrete = concrete.replace("$netns", ".*")
        lines += [f"      - record: tcpq_dashboard:panel{index}", f"        expr: {json.dumps(concrete)}"]
    rules = tmp_path / "dashboard-rules.yml"
    rules.write_text("\n".join(lines) + "\n")
    result = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- systemd unit

KNOWN_KEYS = {
    "Unit": {"Description", "Documentation", "After", "Wants", "Requires", "Before"},
    "Service": {
        "Type", "ExecStart", "Restart", "RestartSec", "SuccessExitStatus", "DynamicUser", "User",
        "Group", "AmbientCapabilities", "CapabilityBoundingSet", "NoNewPrivileges", "SecureBits",
        "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectProc", "ProcSubset",
        "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
        "ProtectClock", "ProtectHostname", "UMask", "RestrictAddressFamilies", "RestrictRealtime",
        "RestrictSUIDSGID", "LockPersonality", "SystemCallArchitectures", "SystemCallFilter",
        "SystemCallErrorNumber", "MemoryMax", "TasksMax", "CPUQuota", "Nice",
    },
    "Install": {"WantedBy"},
}  # fmt: skip


def unit_entries() -> list[tuple[str, str, str]]:
    """(section, key, value) for each assignment, in order; a malformed line fails the test."""
    entries: list[tuple[str, str, str]] = []
    section = ""
    for number, line in enumerate(UNIT.read_text().splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if header := re.fullmatch(r"\[(\w+)\]", stripped):
            section = header.group(1)
            continue
        key, equals, value = stripped.partition("=")
        assert equals and section, f"{UNIT.name}:{number}: not a key=value in a section: {line!r}"
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(key: str) -> list[str]:
    return [value for _, name, value in unit_entries() if name == key]


def test_unit_keys_are_known_systemd_keys() -> None:
    for section, key, _ in unit_entries():
        assert section in KNOWN_KEYS, section
        assert key in KNOWN_KEYS[section], f"[{section}] {key}"


def test_unit_is_hardened_with_only_the_needed_capabilities() -> None:
    needed = {"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"}
    assert set(" ".join(unit_values("AmbientCapabilities")).split()) == needed
    assert set(" ".join(unit_values("CapabilityBoundingSet")).split()) == needed
    assert set(unit_values("RestrictAddressFamilies")[0].split()) == {
        "AF_UNIX",
        "AF_INET",
        "AF_INET6",
        "AF_NETLINK",
    }
    for key, value in (
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
    ):
        assert unit_values(key) == [value], key
    assert unit_values("DynamicUser") == ["yes"] or unit_values("User")
    assert re.fullmatch(r"\d+[KMG]", unit_values("MemoryMax")[0])
    for capability in needed:  # each one's comment says what is lost without it
        assert re.search(rf"^#\s+{capability}\s+\S", UNIT.read_text(), re.MULTILINE), capability


def test_unit_runs_tcpq_export_on_the_default_address() -> None:
    (command,) = unit_values("ExecStart")
    program, *arguments = command.split()
    assert Path(program).name == "tcpq" and arguments[0] == "export"
    assert arguments[arguments.index("--listen") + 1] == "127.0.0.1:9841"


def test_unit_options_are_tcpq_export_options() -> None:
    from click.testing import CliRunner

    from tcpq.cli import main

    result = CliRunner().invoke(main, ["export", "--help"])
    assert result.exit_code == 0, result.output
    options = [word for word in unit_values("ExecStart")[0].split() if word.startswith("--")]
    assert options
    for option in options:
        assert re.search(rf"(?<![\w-]){option}(?![\w-])", result.output), option


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    """With ExecStart pointed at an executable that exists here (verify checks the path)."""
    analyze = require("systemd-analyze")
    installed = shutil.which("tcpq") or str(Path(sys.executable).with_name("tcpq"))
    program = unit_values("ExecStart")[0].split()[0]
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(program, installed if Path(installed).exists() else "/bin/true"))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Unknown keys and bad values are only warnings: exit 0 with a line naming the file.
    assert UNIT.name not in output, output


# ---------------------------------------------------------------- the unit's capabilities, for real

NOBODY = "65534"
SERVE_LIMIT_S = 30.0


def unit_capabilities() -> list[str]:
    return " ".join(unit_values("AmbientCapabilities")).split()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def scrape_as_nobody(capabilities: list[str], netns: str) -> list[str]:
    """Run `tcpq export` as nobody with exactly `capabilities` (ambient and bounding, as the
    unit gives them), scrape it once, stop it by PID; the sample lines of `netns`."""
    caps = ",".join("+" + cap.removeprefix("CAP_").lower() for cap in capabilities)
    privileges = [f"--inh-caps={caps}", f"--ambient-caps={caps}"] if caps else []
    bounding = "-all" + (f",{caps}" if caps else "")
    port = free_port()
    command = [
        shutil.which("setpriv") or "setpriv",
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        *privileges,
        f"--bounding-set={bounding}",
        sys.executable,
        "-m",
        "tcpq",
        "export",
        "--netns",
        netns,
        "--listen",
        f"127.0.0.1:{port}",
        "--min-interval",
        "0",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + SERVE_LIMIT_S
        while True:
            assert process.poll() is None, (
                f"exporter exited: {process.stderr.read() if process.stderr else ''}"
            )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
                    body: str = response.read().decode()
                break
            except urllib.error.URLError:  # not listening yet
                assert time.monotonic() < deadline, "exporter never served /metrics"
                time.sleep(0.1)
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()
    return [line for line in body.splitlines() if f'netns="{netns}"' in line]


def listener_sample(lines: list[str], metric: str, port: int) -> str | None:
    return next((line for line in lines if line.startswith(metric + "{") and f'port="{port}"' in line), None)


@pytest.mark.parametrize(
    ("dropped", "sees_owner", "sees_drops"),
    [(None, True, True), ("CAP_SYS_ADMIN", True, False), ("CAP_SYS_PTRACE", False, True)],
    ids=["unit", "without-sys-admin", "without-sys-ptrace"],
)
def test_the_unit_capabilities_do_what_its_comments_say(
    dropped: str | None, sees_owner: bool, sees_drops: bool
) -> None:
    """As nobody with the unit's capabilities, tcpq sees a listener in another namespace with
    its owner and its sk_drops; without CAP_SYS_ADMIN it loses the drops (no setns, so no
    inet_diag there), without CAP_SYS_PTRACE the owner (process="")."""
    require_root_netns()
    require("setpriv")
    capabilities = [cap for cap in unit_capabilities() if cap != dropped]
    port = 7411
    with namespace() as ns:
        server = listener(ns, port, backlog=16, mode="never")
        comm = Path(f"/proc/{server.pid}/comm").read_text().strip()
        lines = scrape_as_nobody(capabilities, ns.name)
    assert f'tcpq_netns_up{{netns="{ns.name}"}} 1.0' in lines
    sample = listener_sample(lines, "tcpq_listener_accept_queue", port)
    assert sample is not None, lines
    assert (f'process="{comm}"' in sample) is sees_owner, sample
    assert ('process=""' in sample) is not sees_owner, sample
    assert (listener_sample(lines, "tcpq_listener_drops_total", port) is not None) is sees_drops, lines
