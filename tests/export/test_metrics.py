"""The metric contract (tcpq.export.metrics) against hand-built Snapshots: golden exposition text,
a round trip through Prometheus's own parser, folding of ephemeral ports, every contract name.

Regenerate the golden after an intended change with TCPQ_UPDATE_GOLDEN=1 and read the diff.
"""

import os
from collections.abc import Iterable
from pathlib import Path

from prometheus_client.core import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tcpq.export.metrics import (
    COUNTER_METRICS,
    METRICS,
    SYSCTLS,
    Kind,
    ScrapeStats,
    build_families,
    listener_series,
)
from tcpq.types import Listener, ProcessInfo, Runtime, Snapshot, Source

GOLDEN = Path(__file__).parent / "golden"
NGINX = ProcessInfo(101, "nginx", Runtime.NGINX)
PYTHON = ProcessInfo(202, "python3", Runtime.PYTHON)


def listener(netns: str, address: str, port: int, procs: list[ProcessInfo], **kw: object) -> Listener:
    fields: dict[str, object] = {
        "accept_queue": 0,
        "accept_queue_limit": 128,
        "syn_recv": 0,
        "drops": 0,
        "drops_per_s": None,
        "reuseport_group": 0,
        "clamped_by_somaxconn": False,
    }
    fields.update(kw)
    return Listener(netns=netns, address=address, port=port, processes=procs, **fields)  # type: ignore[arg-type]


def snapshot(netns: str, listeners: list[Listener], low_high: tuple[int, int] = (32768, 60999)) -> Snapshot:
    counters = {spec.source.removeprefix("counter."): 10 * n for n, spec in enumerate(COUNTER_METRICS)}
    sysctl: dict[str, int | tuple[int, int]] = {name: 100 + n for n, name in enumerate(SYSCTLS)}
    sysctl["net.ipv4.ip_local_port_range"] = low_high
    return Snapshot(
        source=Source.HOST,
        netns=netns,
        kernel_release="6.18.0",
        monotonic_s=1000.0,
        wall_s=1_790_000_000.0,
        sysctl=sysctl,
        counters=counters | {"TcpExtNotInTheContract": 7},
        states={"LISTEN": len(listeners), "ESTABLISHED": 12, "TIME_WAIT": 3},
        states_by_process=[],
        states_by_port={},
        states_by_remote={},
        listeners=listeners,
        close_wait=[],
        time_wait_by_destination=[],
        queued=[],
        orphans=0,
        sockets_total=15 + len(listeners),
    )


SELF = snapshot(
    "self",
    [
        listener("self", "0.0.0.0", 80, [NGINX], accept_queue=129, accept_queue_limit=128, drops=41),
        # SO_REUSEPORT: two sockets of one program on one address:port are one series (summed).
        listener(
            "self",
            "0.0.0.0",
            443,
            [NGINX],
            accept_queue=3,
            accept_queue_limit=4096,
            clamped_by_somaxconn=True,
            drops=5,
            reuseport_group=1,
        ),
        listener(
            "self",
            "0.0.0.0",
            443,
            [NGINX],
            accept_queue=1,
            accept_queue_limit=4096,
            clamped_by_somaxconn=True,
            drops=None,
            reuseport_group=1,
        ),
        listener("self", "127.0.0.1", 8080, [], syn_recv=2, drops=None),
        listener("self", "127.0.0.1", 40001, [PYTHON], accept_queue=2, accept_queue_limit=5, drops=1),
        listener("self", "[::1]", 50002, [PYTHON], accept_queue=1, accept_queue_limit=10, drops=2),
    ],
)
LAB = snapshot("lab1", [listener("lab1", "127.0.0.1", 9000, [PYTHON], accept_queue=5, accept_queue_limit=4)])
STATS = ScrapeStats(duration_s=0.125, errors_total=2, snapshot_age_s=0.5)


def exposition(families: list[Metric]) -> str:
    class Fixed:
        def collect(self) -> Iterable[Metric]:
            return families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed())
    return generate_latest(registry).decode()


def samples(families: Iterable[Metric]) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    return {(s.name, tuple(sorted(s.labels.items())), s.value) for f in families for s in f.samples}


def value(families: list[Metric], metric: str, /, **labels: str) -> float:
    (found,) = [v for n, lab, v in samples(families) if n == metric and dict(lab).items() >= labels.items()]
    return found


def test_golden_exposition() -> None:
    text = exposition(build_families([SELF, LAB], ["gone-ns"], STATS))
    path = GOLDEN / "metrics.txt"
    if os.environ.get("TCPQ_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), "metrics.txt differs (TCPQ_UPDATE_GOLDEN=1 to rewrite)"


def test_exposition_round_trips_through_the_prometheus_parser() -> None:
    families = build_families([SELF, LAB], ["gone-ns"], STATS)
    parsed = list(text_string_to_metric_families(exposition(families)))
    assert samples(parsed) == samples(families)
    kinds = {f.name: f.type for f in parsed}
    assert kinds["tcpq_listener_drops"] == "counter"
    assert kinds["tcpq_listener_accept_queue"] == "gauge"


def test_every_contract_name_appears_with_its_kind_and_labels() -> None:
    families = build_families([SELF, LAB], ["gone-ns"], STATS)
    by_sample = {s.name: (f.type, set(s.labels)) for f in families for s in f.samples}
    for spec in METRICS:
        assert spec.name in by_sample, spec.name
        kind, labels = by_sample[spec.name]
        assert kind == spec.kind.value, spec.name
        assert labels == set(spec.labels), spec.name
        assert spec.kind is not Kind.COUNTER or spec.name.endswith("_total")
    assert len({spec.name for spec in METRICS}) == len(METRICS)
    assert "TcpExtNotInTheContract" not in exposition(families)


def test_ephemeral_listeners_fold_into_one_series_per_namespace() -> None:
    families = build_families([SELF])
    folded = {"netns": "self", "address": "*", "port": "ephemeral", "process": ""}
    assert value(families, "tcpq_listeners_folded", netns="self") == 2
    assert value(families, "tcpq_listener_accept_queue", **folded) == 3
    assert value(families, "tcpq_listener_accept_queue_limit", **folded) == 15
    assert value(families, "tcpq_listener_drops_total", **folded) == 3
    ports = {dict(lab)["port"] for n, lab, _ in samples(families) if n == "tcpq_listener_accept_queue"}
    assert ports == {"80", "443", "8080", "ephemeral"}


def test_all_ports_keeps_every_listener_and_folds_none() -> None:
    families = build_families([SELF], all_ports=True)
    assert value(families, "tcpq_listeners_folded", netns="self") == 0
    assert value(families, "tcpq_listener_accept_queue", port="40001", process="python3") == 2
    assert value(families, "tcpq_listener_accept_queue", port="50002", address="[::1]") == 1


def test_the_namespace_port_range_decides_what_is_ephemeral() -> None:
    narrow = snapshot("n", SELF.listeners, low_high=(50000, 50010))
    series, folded = listener_series(narrow)
    assert folded == 1
    assert {s.labels[2] for s in series} == {"80", "443", "8080", "40001", "ephemeral"}


def test_shared_label_sets_are_summed_and_unreadable_drops_left_out() -> None:
    families = build_families([SELF])
    assert value(families, "tcpq_listener_accept_queue", port="443") == 4
    assert value(families, "tcpq_listener_drops_total", port="443") == 5  # one socket unreadable
    assert value(families, "tcpq_listener_clamped_by_somaxconn", port="443") == 1
    assert not [
        lab
        for n, lab, _ in samples(families)
        if n == "tcpq_listener_drops_total" and dict(lab)["port"] == "8080"
    ]


def test_unknown_owner_is_an_empty_process_label_never_a_pid() -> None:
    families = build_families([SELF])
    assert value(families, "tcpq_listener_syn_recv", port="8080", process="") == 2
    processes = {dict(lab)["process"] for n, lab, _ in samples(families) if "process" in dict(lab)}
    assert processes == {"nginx", ""}  # python3's listeners are on ephemeral ports, folded


def test_a_namespace_not_read_is_down_and_the_others_up() -> None:
    families = build_families([SELF, LAB], ["gone-ns"])
    assert value(families, "tcpq_netns_up", netns="self") == 1
    assert value(families, "tcpq_netns_up", netns="lab1") == 1
    assert value(families, "tcpq_netns_up", netns="gone-ns") == 0
    assert not [
        lab for n, lab, _ in samples(families) if dict(lab).get("netns") == "gone-ns" and n != "tcpq_netns_up"
    ]


def test_sysctls_and_states_per_namespace() -> None:
    families = build_families([LAB])
    names = {dict(lab)["name"] for n, lab, _ in samples(families) if n == "tcpq_sysctl"}
    assert names == set(SYSCTLS)
    assert value(families, "tcpq_sysctl", name="net.core.somaxconn") == 100
    assert value(families, "tcpq_sockets", netns="lab1", state="TIME_WAIT") == 3
    assert value(families, "tcpq_listen_overflows_total", netns="lab1") == 0
    assert value(families, "tcpq_out_rsts_total", netns="lab1") == 150
