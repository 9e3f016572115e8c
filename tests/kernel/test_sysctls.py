"""The sysctl catalogue against kernel-model §9 (defaults, scope, history) and §15 (seed claims)."""

import pytest

from tcpq.kernel.sysctls import SYSCTLS, Scope, Verdict, find_sysctl

V618 = (6, 18)

# kernel-model §9, 6.18 defaults (ehash-derived values as on the reference host).
EXPECTED_618: dict[str, int | tuple[int, int] | None] = {
    "net.core.somaxconn": 4096,
    "net.ipv4.tcp_max_syn_backlog": 2048,
    "net.ipv4.tcp_synack_retries": 5,
    "net.ipv4.tcp_syn_retries": 6,
    "net.ipv4.tcp_syn_linear_timeouts": 4,
    "net.ipv4.tcp_syncookies": 1,
    "net.ipv4.tcp_abort_on_overflow": 0,
    "net.ipv4.ip_local_port_range": (32768, 60999),
    "net.ipv4.tcp_max_tw_buckets": 131072,
    "net.ipv4.tcp_fin_timeout": 60,
    "net.ipv4.tcp_tw_reuse": 2,
    "net.ipv4.tcp_tw_reuse_delay": 1000,
    "net.ipv4.tcp_keepalive_time": 7200,
    "net.ipv4.tcp_keepalive_intvl": 75,
    "net.ipv4.tcp_keepalive_probes": 9,
    "net.ipv4.tcp_retries1": 3,
    "net.ipv4.tcp_retries2": 15,
    "net.ipv4.tcp_orphan_retries": 0,
    "net.ipv4.tcp_rto_min_us": 200000,
    "net.ipv4.tcp_rto_max_ms": 120000,
    "net.ipv4.tcp_invalid_ratelimit": 500,
    "net.ipv4.tcp_max_orphans": 131072,
    "net.core.netdev_max_backlog": 1000,
    "net.ipv4.tcp_challenge_ack_limit": 2**31 - 1,
    "net.ipv4.tcp_timestamps": 1,
    "net.ipv4.tcp_tw_recycle": None,
}

# Every sysctl the two seed articles name (some misspelled there).
SEED_SYSCTLS = [
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_synack_retries",
    "net.ipv4.tcp_syn_retries",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_abort_on_overflow",
    "net.ipv4.tcp_tw_reuse",
    "net.ipv4.tcp_tw_recycle",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_max_tw_buckets",
    "net.ipv4.ip_local_port_range",
    "net.core.netdev_max_backlog",
    "net.ipv4.tcp_max_orphans",
    "net.ipv4.tcp_timestamps",
]


def test_catalogue_has_exactly_the_expected_sysctls() -> None:
    assert set(SYSCTLS) == set(EXPECTED_618)
    assert set(SEED_SYSCTLS) <= set(SYSCTLS)


@pytest.mark.parametrize("name", sorted(EXPECTED_618))
def test_default_on_618_matches_kernel_model(name: str) -> None:
    assert SYSCTLS[name].default_for(V618) == EXPECTED_618[name]


def test_somaxconn_changed_in_5_4() -> None:
    somaxconn = SYSCTLS["net.core.somaxconn"]
    assert somaxconn.default_for((5, 3)) == 128
    assert somaxconn.default_for((5, 4)) == 4096
    assert somaxconn.default_for((2, 6)) == 128


def test_tw_recycle_exists_only_before_4_12() -> None:
    recycle = SYSCTLS["net.ipv4.tcp_tw_recycle"]
    assert recycle.default_for((4, 11)) == 0
    assert recycle.default_for((4, 12)) is None
    assert recycle.default_for(V618) is None


@pytest.mark.parametrize(
    ("name", "last_absent", "first_present", "value"),
    [
        ("net.ipv4.tcp_syn_linear_timeouts", (6, 4), (6, 5), 4),
        ("net.ipv4.tcp_rto_min_us", (6, 10), (6, 11), 200000),
        ("net.ipv4.tcp_tw_reuse_delay", (6, 13), (6, 14), 1000),
        ("net.ipv4.tcp_rto_max_ms", (6, 14), (6, 15), 120000),
        ("net.ipv4.tcp_invalid_ratelimit", (3, 19), (4, 0), 500),
    ],
)
def test_sysctls_absent_before_they_were_added(
    name: str, last_absent: tuple[int, int], first_present: tuple[int, int], value: int
) -> None:
    sysctl = SYSCTLS[name]
    assert sysctl.default_for(last_absent) is None
    assert sysctl.default_for(first_present) == value


@pytest.mark.parametrize(
    ("name", "before", "after", "old", "new"),
    [
        ("net.ipv4.tcp_syn_retries", (3, 6), (3, 7), 5, 6),
        ("net.ipv4.tcp_tw_reuse", (4, 17), (4, 18), 0, 2),
        ("net.ipv4.ip_local_port_range", (4, 1), (4, 2), (32768, 61000), (32768, 60999)),
        ("net.ipv4.tcp_max_syn_backlog", (5, 3), (5, 4), 1024, 2048),
        ("net.ipv4.tcp_challenge_ack_limit", (5, 19), (6, 0), 1000, 2**31 - 1),
    ],
)
def test_defaults_that_changed(
    name: str,
    before: tuple[int, int],
    after: tuple[int, int],
    old: int | tuple[int, int],
    new: int | tuple[int, int],
) -> None:
    sysctl = SYSCTLS[name]
    assert sysctl.default_for(before) == old
    assert sysctl.default_for(after) == new


@pytest.mark.parametrize("name", sorted(EXPECTED_618))
def test_defaults_are_ascending_and_start_at_2_6_or_later(name: str) -> None:
    versions = [step.since for step in SYSCTLS[name].defaults]
    assert versions, name
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
    assert versions[0] >= (2, 6)


@pytest.mark.parametrize("name", sorted(EXPECTED_618))
def test_defaults_lie_within_the_documented_range(name: str) -> None:
    sysctl = SYSCTLS[name]
    for step in sysctl.defaults:
        if step.value is None:
            continue
        values = step.value if isinstance(step.value, tuple) else (step.value,)
        for value in values:
            assert sysctl.minimum is None or value >= sysctl.minimum
            assert sysctl.maximum is None or value <= sysctl.maximum


def test_only_the_port_range_has_pairs() -> None:
    for sysctl in SYSCTLS.values():
        pairs = [step for step in sysctl.defaults if isinstance(step.value, tuple)]
        if sysctl.name == "net.ipv4.ip_local_port_range":
            assert len(pairs) == len(sysctl.defaults)
        else:
            assert pairs == []


def test_global_sysctls_are_the_two_kernel_model_names() -> None:
    global_ones = {s.name for s in SYSCTLS.values() if s.scope is Scope.GLOBAL}
    assert global_ones == {"net.core.netdev_max_backlog", "net.ipv4.tcp_max_orphans"}


@pytest.mark.parametrize("name", sorted(EXPECTED_618))
def test_every_sysctl_is_documented(name: str) -> None:
    sysctl = SYSCTLS[name]
    assert sysctl.meaning and sysctl.history and sysctl.kernel_model.startswith("§")
    assert sysctl.unit in {"", "s", "ms", "us", "count", "ports", "bool", "mode"}
    assert sysctl.name.startswith("net.")


@pytest.mark.parametrize(
    "spelling",
    [
        "somaxconn",
        "net.core.somaxconn",
        "NET.CORE.SOMAXCONN",
        "net/core/somaxconn",
        "/proc/sys/net/core/somaxconn",
        "  Somaxconn ",
    ],
)
def test_find_sysctl_accepts_common_spellings(spelling: str) -> None:
    assert find_sysctl(spelling).name == "net.core.somaxconn"


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("net.ipv4_tcpsynack_retries", "net.ipv4.tcp_synack_retries"),
        ("net.ipv4.syn_retries", "net.ipv4.tcp_syn_retries"),
        ("net.ipv4.tcp.syncookies", "net.ipv4.tcp_syncookies"),
        ("tcp_syn_retries", "net.ipv4.tcp_syn_retries"),
        ("tcp_synack_retries", "net.ipv4.tcp_synack_retries"),
    ],
)
def test_find_sysctl_accepts_the_seed_misspellings(spelling: str, name: str) -> None:
    assert find_sysctl(spelling).name == name


@pytest.mark.parametrize("spelling", ["", "somaxcon", "net.core.rmem_max", "tcp_retries3"])
def test_find_sysctl_rejects_unknown_names(spelling: str) -> None:
    with pytest.raises(KeyError):
        find_sysctl(spelling)


def test_short_name_is_the_last_component() -> None:
    assert SYSCTLS["net.ipv4.tcp_syncookies"].short_name == "tcp_syncookies"
    assert SYSCTLS["net.core.somaxconn"].short_name == "somaxconn"


def _verdicts(name: str) -> list[Verdict]:
    return [claim.verdict for claim in SYSCTLS[name].seed_claims]


def test_seed_claims_sit_on_the_right_sysctls() -> None:
    # kernel-model §15 (a)-(j)
    assert Verdict.OUTDATED in _verdicts("net.ipv4.tcp_max_syn_backlog")  # (a) max(64, ...)
    assert any("max(64" in c.claim for c in SYSCTLS["net.ipv4.tcp_max_syn_backlog"].seed_claims)
    assert _verdicts("net.core.somaxconn") == [Verdict.RIGHT, Verdict.OUTDATED, Verdict.WRONG]  # b c j
    assert _verdicts("net.ipv4.tcp_synack_retries") == [Verdict.RIGHT]  # (d) 63 s
    assert _verdicts("net.ipv4.tcp_syn_retries") == [Verdict.OUTDATED]  # (e) 3 s then 9 s
    assert Verdict.PARTLY in _verdicts("net.ipv4.tcp_syncookies")  # (f)
    assert Verdict.OUTDATED in _verdicts("net.ipv4.tcp_syncookies")  # (f) default 0
    assert Verdict.RIGHT in _verdicts("net.ipv4.tcp_abort_on_overflow")  # (g)
    assert _verdicts("net.ipv4.tcp_tw_recycle") == [Verdict.OUTDATED]  # (h)
    assert _verdicts("net.core.netdev_max_backlog") == [Verdict.WRONG]  # (i)


def test_seed_claims_are_complete() -> None:
    for sysctl in SYSCTLS.values():
        for claim in sysctl.seed_claims:
            assert claim.claim and claim.truth and claim.since, sysctl.name


def test_uncertain_history_is_flagged() -> None:
    for name in ("net.ipv4.tcp_syncookies", "net.ipv4.tcp_syn_retries", "net.core.netdev_max_backlog"):
        assert "(from memory" in SYSCTLS[name].history or "from memory)" in SYSCTLS[name].history


def test_model_inputs_are_marked() -> None:
    for name in (
        "net.core.somaxconn",
        "net.ipv4.tcp_max_syn_backlog",
        "net.ipv4.tcp_synack_retries",
        "net.ipv4.tcp_syn_retries",
        "net.ipv4.tcp_syn_linear_timeouts",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.tcp_abort_on_overflow",
        "net.ipv4.tcp_tw_reuse",
        "net.ipv4.tcp_tw_reuse_delay",
        "net.ipv4.tcp_rto_max_ms",
        "net.ipv4.tcp_rto_min_us",
        "net.ipv4.tcp_invalid_ratelimit",
        "net.ipv4.tcp_timestamps",
    ):
        assert SYSCTLS[name].used_by_model, name
    assert not SYSCTLS["net.ipv4.tcp_tw_recycle"].used_by_model
