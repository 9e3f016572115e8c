"""app/run_figures.py: what the charts show, from a run's data (pure; no drawing)."""

from dataclasses import replace
from pathlib import Path

import pytest

from tcpq.app.run_figures import Chart, cdf_points, drawn_outcomes, run_charts, syn_retransmission_marks
from tcpq.histogram import histogram
from tcpq.scenario import load_scenario
from tcpq.sim.runner import simulate
from tcpq.types import RunResult, Source

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


def run_of(name: str) -> RunResult:
    return simulate(load_scenario(EXAMPLES / f"{name}.toml"), running_release="6.18.0")


def test_the_cdf_steps_are_the_kernels_syn_retransmissions_on_6_18() -> None:
    # kernel-model.md §5.1, measured: SYNs at 1, 2, 3, 4, 5, 7, 11, 19, 35, 67 s (linear 4, then doubling)
    marks = syn_retransmission_marks(run_of("backlog-nobody-accepts"))
    assert [mark.x for mark in marks] == [1, 2, 3, 4, 5, 7, 11, 19, 35, 67]


def test_an_old_kernel_retransmits_after_3_then_9_seconds() -> None:
    # the seeds' "3 s late" story on 2.6: initial RTO 3 s, doubling, tcp_syn_retries 5
    marks = syn_retransmission_marks(run_of("backend-3s-late-old-kernel"))
    assert [mark.x for mark in marks] == [3, 9, 21, 45, 93]


def test_a_cdf_rises_inside_each_bucket_and_is_flat_between() -> None:
    xs, ys = cdf_points(histogram([1_000_000, 1_000_000, 3_000_000, 3_000_000]))
    assert ys == [0.0, 0.5, 0.5, 1.0]
    # 1 s opens bucket 121; 3 s = 10^6.477 µs falls in the one opening at 10^(129/20) µs = 2.818 s
    assert xs[0] == pytest.approx(1.0) and xs[2] == pytest.approx(10 ** (129 / 20 - 6))
    assert xs == sorted(xs)


def test_a_compare_overlays_model_and_kernel_on_each_chart() -> None:
    model = run_of("synflood-cookies-1")
    kernel = replace(model, source=Source.LAB, timeseries=replace(model.timeseries, cookies_sent=[]))
    one, both = run_charts([model]), run_charts([model, kernel])
    assert [chart.name for chart in one] == [chart.name for chart in both]
    counts = {chart.name: len(chart.series) for chart in both}
    # the kernel's old result has no cookie series: seven rate series (four a run), not eight
    assert counts == {
        "accept-queue": 2,
        "syn-queue": 2,
        "rates": 7,
        "clients": 2,
        "connect-cdf": 2,
        "response-cdf": 2,
    }
    labels = [series.label for series in both[0].series]
    assert labels == ["length (model)", "length (kernel)"]
    rates = next(chart for chart in one if chart.name == "rates")
    interval = model.timeseries.t_s[1] - model.timeseries.t_s[0]
    cookies = next(series for series in rates.series if series.label == "SYN cookies sent")
    assert sum(cookies.y) * interval == pytest.approx(model.counters["TcpExtSyncookiesSent"])


def chart(charts: list[Chart], name: str) -> Chart:
    return next(chart for chart in charts if chart.name == name)


def test_the_clients_chart_draws_the_outcomes_that_occur() -> None:
    run = run_of("synflood-cookies-0")  # no cookies under a flood: 98 clients time out
    clients = chart(run_charts([run]), "clients")
    assert clients.title == "Client outcomes over time"
    assert [series.label for series in clients.series] == ["connected", "timed out"]
    connected, timed_out = clients.series
    # connected: the handshakes done, one per connect time in the histogram
    assert connected.y[-1] == sum(run.clients.connect_time_hist.counts)  # type: ignore[union-attr]
    assert timed_out.y[-1] == run.clients.timed_out == 98 and timed_out.x == run.timeseries.t_s
    # nobody refused or reset: not drawn
    assert drawn_outcomes([run]) == ["timed_out"]


def test_a_compare_draws_an_outcome_for_both_when_either_saw_it() -> None:
    model = run_of("synflood-cookies-0")
    zeros = [0] * len(model.timeseries.t_s)
    kernel = replace(model, source=Source.LAB, timeseries=replace(model.timeseries, timed_out=zeros))
    clients = chart(run_charts([model, kernel]), "clients")
    labels = [(series.label, series.source) for series in clients.series]
    assert labels == [
        ("connected (model)", Source.SIM),
        ("timed out (model)", Source.SIM),
        ("connected (kernel)", Source.LAB),
        ("timed out (kernel)", Source.LAB),  # flat at 0, dashed: the kernel's "none"
    ]
    assert clients.series[3].y == [0.0] * len(zeros)


def test_an_old_result_has_only_connected_and_three_rates() -> None:
    run = run_of("synflood-cookies-0")
    old = replace(run.timeseries, refused=[], reset=[], timed_out=[], client_syn_retrans=[])
    charts = run_charts([replace(run, timeseries=old)])
    assert [series.label for series in chart(charts, "clients").series] == ["connected"]
    assert len(chart(charts, "rates").series) == 3


def test_client_syn_retransmissions_per_second_add_up_to_the_counter() -> None:
    run = run_of("java-backlog-50")
    rates = chart(run_charts([run]), "rates")
    series = next(s for s in rates.series if s.label == "client SYN retransmissions")
    interval = run.timeseries.t_s[1] - run.timeseries.t_s[0]
    assert sum(series.y) * interval == pytest.approx(run.client_counters["TcpExtTCPSynRetrans"])
    assert run.client_counters["TcpExtTCPSynRetrans"] > 0
