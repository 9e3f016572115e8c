"""The sysctl catalogue against the running kernel (a fresh namespace's own defaults) and,
for what one kernel cannot show, kernel-model §9 (history) and §15 (seed claims)."""

import pytest

from tcpq.kernel.entries import SysctlValue
from tcpq.kernel.profiles import profile_for
from tcpq.kernel.sysctls import SYSCTLS, Scope, Sysctl, Verdict, find_sysctl
from tcpq.model.constants import TCP_RTO_MAX_US, TCP_TIMEWAIT_LEN_US, US_PER_MS, US_PER_S
from tcpq.model.netns import Settings

from .fresh_netns import FreshNetns, running_kernel

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


def test_catalogue_has_every_seed_sysctl() -> None:
    assert set(SEED_SYSCTLS) <= set(SYSCTLS)


def _parse(text: str) -> SysctlValue:
    numbers = tuple(int(word) for word in text.split())
    if len(numbers) == 1:
        return numbers[0]
    assert len(numbers) == 2, text
    return numbers[0], numbers[1]


PER_NETNS = sorted(name for name, s in SYSCTLS.items() if s.scope is Scope.PER_NETNS)
GLOBAL = sorted(name for name, s in SYSCTLS.items() if s.scope is Scope.GLOBAL)


@pytest.mark.parametrize("name", PER_NETNS)
def test_per_netns_default_is_the_running_kernels(fresh_netns: FreshNetns, name: str) -> None:
    """A fresh namespace holds the kernel's defaults: the catalogue's for this version, or no
    file where the catalogue says the sysctl does not exist (tcp_tw_recycle since 4.12)."""
    sysctl = SYSCTLS[name]
    expected = sysctl.default_for(running_kernel())
    text = fresh_netns.sysctl(name)
    if expected is None:
        assert text is None, f"{name} exists on this kernel: {text!r}"
        return
    assert text is not None, f"{name} is missing from a fresh namespace"
    if sysctl.scales_with_ehash:
        return  # RAM-dependent: checked by the formula below, not the reference host's figure
    assert _parse(text) == expected


@pytest.mark.parametrize("name", GLOBAL)
def test_global_sysctls_are_not_in_a_child_namespace(fresh_netns: FreshNetns, name: str) -> None:
    """Host-wide sysctls are registered for the initial namespace only (ipv4_table,
    net_core_table), so a child namespace has no file for them."""
    assert fresh_netns.sysctl(name) is None


def _ehash_figures(read: dict[str, int]) -> tuple[int, int]:
    buckets = 2 * read["net.ipv4.tcp_max_tw_buckets"]  # tcp_set_hashinfo: buckets / 2
    return read["net.ipv4.tcp_max_syn_backlog"], max(128, buckets // 128)


def test_hash_derived_defaults_follow_the_kernels_formula(fresh_netns: FreshNetns) -> None:
    """tcp_set_hashinfo (5.4+): tcp_max_tw_buckets = buckets / 2, tcp_max_syn_backlog =
    max(128, buckets / 128); tcp_init: tcp_max_orphans = buckets / 2 (host-wide). The running
    kernel and the catalogue's reference-host figures must both obey it."""
    derived = [name for name, s in SYSCTLS.items() if s.scales_with_ehash]
    assert sorted(derived) == [
        "net.ipv4.tcp_max_orphans",
        "net.ipv4.tcp_max_syn_backlog",
        "net.ipv4.tcp_max_tw_buckets",
    ]
    live: dict[str, int] = {}
    for name in ("net.ipv4.tcp_max_tw_buckets", "net.ipv4.tcp_max_syn_backlog"):
        text = fresh_netns.sysctl(name)
        assert text is not None
        live[name] = int(text)
    syn_backlog, from_buckets = _ehash_figures(live)
    assert syn_backlog == from_buckets
    catalogue = {name: SYSCTLS[name].default_for(running_kernel()) for name in derived}
    ints = {name: value for name, value in catalogue.items() if isinstance(value, int)}
    syn_backlog, from_buckets = _ehash_figures(ints)
    assert syn_backlog == from_buckets
    assert ints["net.ipv4.tcp_max_orphans"] == ints["net.ipv4.tcp_max_tw_buckets"]


def test_somaxconn_changed_in_5_4() -> None:
    somaxconn = SYSCTLS["net.core.somaxconn"]
    assert somaxconn.default_for((5, 3)) == 128
    assert somaxconn.default_for((5, 4)) == 4096
    assert somaxconn.default_for((2, 6)) == 128


def test_tw_recycle_exists_only_before_4_12() -> None:
    recycle = SYSCTLS["net.ipv4.tcp_tw_recycle"]
    assert recycle.default_for((4, 11)) == 0
    assert recycle.default_for((4, 12)) is None
    assert recycle.default_for((6, 18)) is None


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


@pytest.mark.parametrize("name", sorted(SYSCTLS))
def test_defaults_are_ascending_and_start_at_2_6_or_later(name: str) -> None:
    versions = [step.since for step in SYSCTLS[name].defaults]
    assert versions, name
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
    assert versions[0] >= (2, 6)


@pytest.mark.parametrize("name", sorted(SYSCTLS))
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


@pytest.mark.parametrize("name", sorted(SYSCTLS))
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


class _Recording(dict[str, SysctlValue]):
    """The sysctl values of a namespace that note which names were looked up."""

    def __init__(self, values: dict[str, SysctlValue]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.read.add(key)
        return super().get(key, default)


def _defaults(version: tuple[int, int]) -> dict[str, SysctlValue]:
    found = {name: s.default_for(version) for name, s in SYSCTLS.items()}
    return {name: value for name, value in found.items() if value is not None}


def test_model_inputs_are_marked() -> None:
    """`used_by_model` is what the model's Settings really reads: all of it on the newest
    profile, which has every tunable; part of it on the oldest."""
    marked = {name for name, sysctl in SYSCTLS.items() if sysctl.used_by_model}
    newest = _Recording(_defaults((6, 18)))
    Settings.from_sysctls(newest, profile_for((6, 18)))
    assert newest.read == marked
    oldest = _Recording(_defaults((2, 6)))
    Settings.from_sysctls(oldest, profile_for((2, 6)))
    assert oldest.read < marked


def test_a_sysctl_the_kernel_lacks_takes_the_newest_default() -> None:
    """Before 6.11 there is no tcp_rto_min_us: the model keeps the constant it made tunable,
    TCP_RTO_MIN, which is the sysctl's default (include/net/tcp.h: 200 ms)."""
    old = Settings.from_sysctls(_defaults((6, 10)), profile_for((6, 10)))
    rto_min: Sysctl = SYSCTLS["net.ipv4.tcp_rto_min_us"]
    assert rto_min.default_for((6, 10)) is None
    assert old.rto_min_us == rto_min.newest_default


@pytest.mark.parametrize(
    ("name", "scale", "constant"),
    [
        # tcp_sk_init: sysctl_tcp_rto_max_ms = TCP_RTO_MAX in ms (6.15+)
        ("net.ipv4.tcp_rto_max_ms", US_PER_MS, TCP_RTO_MAX_US),
        # include/net/tcp.h: TCP_FIN_TIMEOUT is TCP_TIMEWAIT_LEN, the tcp_fin_timeout default
        ("net.ipv4.tcp_fin_timeout", US_PER_S, TCP_TIMEWAIT_LEN_US),
    ],
)
def test_defaults_set_from_header_constants_equal_the_models(name: str, scale: int, constant: int) -> None:
    """The kernel initialises these sysctls from the constants the model also names: the two
    must agree, or the model times the kernel differently with and without the sysctl."""
    default = SYSCTLS[name].newest_default
    assert isinstance(default, int)
    assert default * scale == constant
