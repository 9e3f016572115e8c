"""Scenario validation: clear one-line errors, never a traceback (hypothesis fuzzing)."""

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpq.cli import main
from tcpq.errors import ScenarioError
from tcpq.scenario import load_scenario, parse_override, scenario_from_dict

MINIMAL = {"duration": "1s", "clients": {"count": 1}}


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, "f.toml")
    return str(info.value)


def test_minimal_defaults() -> None:
    scenario = scenario_from_dict(dict(MINIMAL), "dir/my-case.toml")
    assert scenario.name == "my-case"
    assert scenario.server.backlog == 4096
    assert scenario.duration == 1_000_000


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({**MINIMAL, "bogus": 1}, "f.toml: bogus: unknown key"),
        ({**MINIMAL, "duration": "3.5x"}, "f.toml: duration: '3.5x' is not a duration"),
        ({**MINIMAL, "duration": 3}, "f.toml: duration: 3 has no unit"),
        ({**MINIMAL, "duration": "0s"}, "duration must be positive"),
        ({"duration": "1s", "clients": {"count": 1, "rate": "5/s"}}, "clients[0]: give either count"),
        ({"duration": "1s", "clients": {"rate": "-5/s"}}, "clients[0].rate"),
        (
            {"duration": "1s", "clients": {"rate": "5/s", "from": "2s", "until": "1s"}},
            "until must be after from",
        ),
        ({**MINIMAL, "server": {"accept": "fast"}}, "server.accept: 'fast': expected 'never', 'immediate'"),
        ({**MINIMAL, "server": {"workers": 2}}, "workers and service_time go together"),
        ({**MINIMAL, "server": {"port": 70000}}, "server.port"),
        ({**MINIMAL, "network": {"loss": 1.5}}, "network.loss"),
        ({"duration": "1s"}, "clients: missing"),
        ({"duration": "100s", "clients": {"rate": "1M/s"}}, "attempts offered; the limit is"),
    ],
)
def test_errors_name_file_and_key(data: dict[str, Any], expected: str) -> None:
    message = error_of(data)
    assert expected in message
    assert "\n" not in message


def test_unknown_or_absent_sysctl_is_an_error(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "s.toml"
    path.write_text(
        'duration = "1s"\n[kernel]\nversion="6.18"\n[kernel.sysctl]\n'
        '"net.ipv4.tcp_tw_recycle" = 1\n[clients]\ncount = 1\n'
    )
    result = runner.invoke(main, ["simulate", str(path)])
    assert result.exit_code == 2
    assert "tcp_tw_recycle does not exist in kernel 6.18" in result.output
    path.write_text('duration = "1s"\n[kernel.sysctl]\n"net.ipv4.tcp_nonsense" = 1\n[clients]\ncount = 1\n')
    result = runner.invoke(main, ["simulate", str(path)])
    assert result.exit_code == 2 and "unknown sysctl" in result.output


def test_overrides() -> None:
    assert parse_override("server.backlog=8") == (["server", "backlog"], 8)
    assert parse_override("kernel.sysctl.net.core.somaxconn=128") == (
        ["kernel", "sysctl", "net.core.somaxconn"],
        128,
    )
    assert parse_override("server.accept=never") == (["server", "accept"], "never")
    assert parse_override('duration="2s"') == (["duration"], "2s")
    with pytest.raises(ScenarioError):
        parse_override("novalue")


def test_override_applies_to_file(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('duration = "1s"\n[clients]\ncount = 1\n')
    scenario = load_scenario(path, ["clients.count=7", "server.backlog=-1"])
    assert scenario.clients[0].count == 7 and scenario.server.backlog == -1


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "name",
        "duration",
        "seed",
        "kernel",
        "server",
        "clients",
        "network",
        "attack",
        "version",
        "sysctl",
        "backlog",
        "accept",
        "workers",
        "service_time",
        "count",
        "rate",
        "at",
        "from",
        "until",
        "rtt",
        "loss",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        KEYS | st.text(max_size=8), JSONISH | st.dictionaries(KEYS, JSONISH, max_size=6), max_size=8
    )
)
def test_fuzzed_dicts_never_raise_anything_but_scenario_error(data: dict[str, Any]) -> None:
    try:
        scenario_from_dict(data, "fuzz.toml")
    except ScenarioError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_fuzzed_text_files(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "s.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load_scenario(path)
    except ScenarioError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["3s", "3", "-1s", "1e3ms", "abc", "", "1s", "none"]),
    st.sampled_from(["4", "-1", "1e20", "'x'", "[1]", "99999999999"]),
    st.sampled_from(["'100/s'", "'0/s'", "'never'", "'immediate'", "3"]),
)
def test_cli_bad_values_exit_2_without_traceback(
    tmp_path_factory: pytest.TempPathFactory, duration: str, backlog: str, accept: str
) -> None:
    path = tmp_path_factory.mktemp("cli") / "s.toml"
    path.write_text(
        f'duration = "{duration}"\n[server]\nbacklog = {backlog}\naccept = {accept}\n[clients]\ncount = 2\n'
    )
    result = CliRunner().invoke(main, ["simulate", str(path), "--json"])
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert result.output.count("\n") == 1 and result.output.startswith("tcpq: error: ")
