"""The charts of a run (or of a model-and-kernel pair) as plain data, for report/charts.py.

Everything a chart shows is decided here: which series, in which unit, where the limits and
the kernel's SYN retransmission steps are. The renderer only draws (DESIGN.md: renderers never
compute). Pure: RunResults in, Charts out.
"""

from collections.abc import Sequence

from tcpq.app.timeline import interval_s
from tcpq.histogram import bucket_bounds
from tcpq.kernel.profiles import profile_for
from tcpq.kernel.versions import parse_version
from tcpq.model.client import syn_resends_us
from tcpq.model.constants import US_PER_S
from tcpq.records import frozen
from tcpq.types import Histogram, RunResult, Source

LABELS = {Source.SIM: "model", Source.LAB: "kernel", Source.HOST: "host"}


@frozen
class Series:
    label: str
    x: list[float]
    y: list[float]
    source: Source


@frozen
class Level:
    """A horizontal line: a queue's limit, the clients attempted."""

    label: str
    y: float


@frozen
class Mark:
    """A vertical line: when the kernel retransmits an unanswered SYN."""

    label: str
    x: float


@frozen
class Chart:
    name: str  # an id: [a-z-]+
    title: str
    x_label: str
    y_label: str
    series: list[Series]
    levels: list[Level]
    marks: list[Mark]
    log_x: bool = False


def run_charts(runs: Sequence[RunResult]) -> list[Chart]:
    """The charts of one run, or of several of one scenario overlaid (model first, kernel second)."""
    charts = [
        _queue_chart(runs, "accept-queue", "Accept queue", "accept_queue"),
        _queue_chart(runs, "syn-queue", "SYN queue (request socks)", "syn_queue"),
        _rates_chart(runs),
        _clients_chart(runs),
        _cdf_chart(runs, "connect-cdf", "Connect time", "connect"),
    ]
    if any(run.clients.response_time_hist is not None for run in runs):
        charts.append(_cdf_chart(runs, "response-cdf", "Response time (connect() to reply)", "response"))
    return charts


def _label(run: RunResult, what: str, runs: Sequence[RunResult]) -> str:
    return f"{what} ({LABELS[run.source]})" if len(runs) > 1 else what


def _queue_chart(runs: Sequence[RunResult], name: str, title: str, field: str) -> Chart:
    series = [
        Series(
            _label(run, "length", runs),
            list(run.timeseries.t_s),
            [float(v) for v in getattr(run.timeseries, field)],
            run.source,
        )
        for run in runs
    ]
    limits = {
        (run.listener.accept_queue_limit if field == "accept_queue" else run.listener.syn_queue_limit)
        for run in runs
    }
    levels = [Level(f"limit {limit}", float(limit)) for limit in sorted(limits) if limit >= 0]
    return Chart(name, f"{title} over time", "seconds", "sockets", series, levels, [])


RATES = (
    ("listen_drops", "ListenDrops"),
    ("cookies_sent", "SYN cookies sent"),
    ("synack_retrans", "SYN-ACK retransmissions"),
    ("client_syn_retrans", "client SYN retransmissions"),
)
# How client attempts ended, so far; connected is the handshakes done (connect() returned)
OUTCOMES = (("refused", "refused"), ("reset", "reset"), ("timed_out", "timed out"))


def _rates_chart(runs: Sequence[RunResult]) -> Chart:
    """Per-interval counter deltas as rates per second (an old result lacks the newer series)."""
    series = []
    for run in runs:
        interval = interval_s(run.timeseries.t_s) or 1.0
        for field, what in RATES:
            values = getattr(run.timeseries, field)
            if values:
                series.append(
                    Series(
                        _label(run, what, runs),
                        list(run.timeseries.t_s),
                        [v / interval for v in values],
                        run.source,
                    )
                )
    return Chart("rates", "Drops, cookies and retransmissions", "seconds", "per second", series, [], [])


def drawn_outcomes(runs: Sequence[RunResult]) -> list[str]:
    """The outcome series of the clients chart: those above zero somewhere in any of the runs, so
    model and kernel are both drawn where either saw the outcome (a kernel at 0 is news too)."""
    return [field for field, _ in OUTCOMES if any(any(getattr(run.timeseries, field)) for run in runs)]


def _clients_chart(runs: Sequence[RunResult]) -> Chart:
    """Connected (handshakes done) and the outcomes that occur, each run's own series in turn."""
    drawn = drawn_outcomes(runs)
    series = []
    for run in runs:
        fields = [("handshakes", "connected"), *((f, what) for f, what in OUTCOMES if f in drawn)]
        for field, what in fields:
            values = getattr(run.timeseries, field)
            if values:  # a result written before outcomes were sampled has none
                series.append(
                    Series(
                        _label(run, what, runs),
                        list(run.timeseries.t_s),
                        [float(v) for v in values],
                        run.source,
                    )
                )
    attempted = sorted({run.clients.attempted for run in runs})
    levels = [Level(f"attempted {count}", float(count)) for count in attempted]
    return Chart("clients", "Client outcomes over time", "seconds", "clients", series, levels, [])


def cdf_points(hist: Histogram) -> tuple[list[float], list[float]]:
    """The CDF as a line through each non-empty bucket: from its lower edge at the share below
    it to its upper edge at the share at or below it, flat between buckets (where no sample
    is). Values under 1 µs are drawn from 1 µs: a log axis has no 0."""
    total = sum(hist.counts)
    xs: list[float] = []
    ys: list[float] = []
    seen = 0
    for index, count in enumerate(hist.counts):
        if count == 0:
            continue
        low, high = bucket_bounds(index)
        xs.append(max(low, hist.lowest_s))
        ys.append(seen / total)
        seen += count
        xs.append(high if high != float("inf") else low * 10 ** (1 / hist.per_decade))
        ys.append(seen / total)
    return xs, ys


def syn_retransmission_marks(run: RunResult) -> list[Mark]:
    """When an unanswered connect() retransmits its SYN, from the first SYN (the client
    namespace's sysctls and the kernel's profile): the steps of a connect-time CDF."""
    profile = profile_for(parse_version(run.kernel.version))
    resends = syn_resends_us(run.kernel.client_sysctl, profile)
    return [Mark(f"SYN #{k + 1}", send / US_PER_S) for k, send in enumerate(resends)]


def _cdf_chart(runs: Sequence[RunResult], name: str, title: str, which: str) -> Chart:
    series = []
    for run in runs:
        hist = run.clients.connect_time_hist if which == "connect" else run.clients.response_time_hist
        if hist is not None and any(hist.counts):
            xs, ys = cdf_points(hist)
            series.append(Series(_label(run, "share", runs), xs, ys, run.source))
    longest = max((max(s.x) for s in series), default=0.0)
    marks = [mark for mark in syn_retransmission_marks(runs[0]) if mark.x <= longest * 1.5]
    return Chart(
        name, f"{title}: cumulative share", "seconds (log)", "share of clients", series, [], marks, True
    )
