"""One self-contained HTML page for a run, or for a model-and-kernel comparison.

Inline CSS and inline SVG charts only: no script, no font, no image or style sheet fetched
from anywhere, so the page reads the same offline, from a mail attachment or an archive.
Each chart is `<figure class="chart" id="chart-NAME" data-series="N">` (N: its data series).
"""

from collections.abc import Sequence
from html import escape

from tcpq.app.run_figures import LABELS, Chart
from tcpq.compare import Comparison
from tcpq.kernel.counters import COUNTERS
from tcpq.report.charts import chart_svg
from tcpq.types import Percentiles, RunResult

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.15em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { padding: .15em .8em .15em 0; text-align: right; vertical-align: top; }
th:first-child, td:first-child, table.facts td { text-align: left; }
th { border-bottom: 1px solid #bbb; font-weight: 600; }
.dim { color: #777; } .bad { color: #b00020; font-weight: 600; } .good { color: #1b7f3b; }
.differs { color: #a15c00; font-weight: 600; }
figure.chart { margin: 1em 0; } figure.chart svg { max-width: 100%; height: auto; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: 12px; }
ul.notes li { color: #555; }
"""


POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.3f} s"


def _value(value: int | tuple[int, int] | None) -> str:
    if value is None:
        return "–"
    return f"{value[0]} {value[1]}" if isinstance(value, tuple) else str(value)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table of already-escaped cells."""
    header = "".join(f"<th>{cell}</th>" for cell in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _names(runs: Sequence[RunResult]) -> list[str]:
    return [escape(LABELS[run.source]) for run in runs]


def _header(runs: Sequence[RunResult]) -> str:
    first = runs[0]
    kernel = first.kernel
    facts = [
        ("source", " and ".join(run.source.value for run in runs)),
        ("kernel", kernel.version),
        ("profile", f"{kernel.profile} ({kernel.profile_summary})"),
        ("duration", f"{first.duration_s:g} s"),
    ]
    if first.seed is not None:
        facts.append(("seed", str(first.seed)))
    if first.attack_syns:
        facts.append(("spoofed SYNs", str(first.attack_syns)))
    facts.extend(("--set", text) for text in first.overrides)
    items = "".join(f"<tr><td class=dim>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in facts)
    return f"<h1>{escape(first.scenario)}</h1><table class=facts>{items}</table>"


def _verdict(comparison: Comparison) -> str:
    """The one line a reader wants first."""
    if comparison.agrees:
        return "<p class=good>Model and kernel agree within tolerance on every metric.</p>"
    differ = sum(1 for row in comparison.rows if not row.ok)
    return f"<p class=bad>Model and kernel differ on {differ} of {len(comparison.rows)} metrics.</p>"


def _verdicts(comparison: Comparison) -> str:
    rows = []
    for row in comparison.rows:
        verdict = f"<span class={'good' if row.ok else 'bad'}>{row.verdict}</span>"
        lab = f"≥{_number(row.lab)}" if row.lab_lower_bound else _number(row.lab)
        rows.append(
            [
                escape(row.metric),
                _number(row.sim),
                lab,
                _number(row.difference),
                f"{row.tolerance:g}",
                verdict,
            ]
        )
    notes = "".join(f"<li>{escape(note)}</li>" for note in comparison.notes)
    return (
        "<h2>Model against kernel, metric by metric</h2>"
        + _table(["metric", "model", "kernel", "Δ", "±", "verdict"], rows)
        + (f"<ul class=notes>{notes}</ul>" if notes else "")
    )


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _charts(charts: Sequence[Chart]) -> str:
    figures = "".join(
        f'<figure class="chart" id="chart-{chart.name}" data-series="{len(chart.series)}">'
        f"{chart_svg(chart)}</figure>"
        for chart in charts
    )
    return "<h2>Over time</h2>" + figures


OUTCOMES = (
    ("connected", "connected"),
    ("refused (ECONNREFUSED)", "refused"),
    ("reset (ECONNRESET)", "reset"),
    ("timed out", "timed_out"),
    ("no local port (EADDRNOTAVAIL)", "no_port"),
    ("pending at the end", "pending"),
    ("attempted", "attempted"),
    ("completed through a SYN cookie", "cookie_connections"),
)


def _outcomes(runs: Sequence[RunResult]) -> str:
    rows = [[escape(label), *(str(getattr(run.clients, field)) for run in runs)] for label, field in OUTCOMES]
    return "<h2>Client outcomes</h2>" + _table(["outcome", *_names(runs)], rows)


def _latency(runs: Sequence[RunResult]) -> str:
    rows = []
    for run in runs:
        kinds: list[tuple[str, Percentiles | None]] = [
            ("connect()", run.clients.connect_time_s),
            ("connect() to reply", run.clients.response_time_s),
        ]
        for label, pct in kinds:
            if pct is not None:
                name = f"{label} ({LABELS[run.source]})" if len(runs) > 1 else label
                rows.append([escape(name), *(_seconds(v) for v in (pct.p50, pct.p90, pct.p99, pct.max))])
    return "<h2>Latency</h2>" + _table(["", "p50", "p90", "p99", "max"], rows)


def _listener(runs: Sequence[RunResult]) -> str:
    def peak(value: int, exact: bool) -> str:
        return str(value) if exact else f"≥{value}"

    rows = [
        ["listen() backlog", *(str(run.listener.backlog) for run in runs)],
        ["accept queue limit", *(str(run.listener.accept_queue_limit) for run in runs)],
        [
            "accept queue peak",
            *(peak(r.listener.accept_queue_peak, r.listener.accept_queue_peak_exact) for r in runs),
        ],
        ["SYN queue limit", *(str(run.listener.syn_queue_limit) for run in runs)],
        ["SYN queue peak", *(peak(r.listener.syn_queue_peak, r.listener.syn_queue_peak_exact) for r in runs)],
        ["listener drops (ss -m d)", *(str(run.listener.sk_drops) for run in runs)],
    ]
    return f"<h2>Listener :{runs[0].listener.port}</h2>" + _table(["", *_names(runs)], rows)


def _counters(runs: Sequence[RunResult], title: str, client: bool) -> str:
    values = [run.client_counters if client else run.counters for run in runs]
    names = [
        name
        for name in dict.fromkeys(n for counters in values for n in counters)
        if any(c.get(name) for c in values)
    ]
    rows = []
    for name in names:
        info = COUNTERS.get(name)
        first = next(c.get(name, 0) for c in values if c.get(name))
        wording = escape(info.netstat_line(first)) if info else ""
        rows.append(
            [escape(name), *(str(c.get(name, 0)) for c in values), f"<span class=dim>{wording}</span>"]
        )
    body = (
        _table(["nstat", *_names(runs), "netstat -s"], rows) if rows else "<p class=dim>No counter moved.</p>"
    )
    return f"<h2>{escape(title)}</h2>" + body


def _sysctls(runs: Sequence[RunResult]) -> str:
    first = runs[0]
    server, client = set(first.sysctl_differs), set(first.client_sysctl_differs)

    def cell(value: int | tuple[int, int] | None, differs: bool) -> str:
        return f"<span class=differs>{escape(_value(value))} *</span>" if differs else escape(_value(value))

    rows = [
        [
            escape(name),
            cell(value, name in server),
            cell(first.kernel.client_sysctl.get(name), name in client),
            f"<span class=dim>{escape(_value(first.sysctl_defaults.get(name)))}</span>",
        ]
        for name, value in first.kernel.sysctl.items()
    ]
    title = f"Sysctls the run used (* differs from the kernel {escape(first.kernel.version)} default)"
    return f"<h2>{title}</h2>" + _table(["sysctl", "server", "client", "default"], rows)


def _notes(runs: Sequence[RunResult]) -> str:
    items = "".join(
        f"<li>{escape(LABELS[run.source])}: {escape(note)}</li>"
        if len(runs) > 1
        else f"<li>{escape(note)}</li>"
        for run in runs
        for note in run.notes
    )
    return f"<h2>Notes</h2><ul class=notes>{items}</ul>" if items else ""


def render_html(
    runs: Sequence[RunResult],
    charts: Sequence[Chart],
    comparison: Comparison | None = None,
    scenario_text: str | None = None,
) -> str:
    """The page: header (and a comparison's verdict), charts, the comparison's rows, tables,
    scenario, notes."""
    parts = [
        _header(runs),
        _verdict(comparison) if comparison is not None else "",
        _charts(charts),
        _verdicts(comparison) if comparison is not None else "",
        _outcomes(runs),
        _latency(runs),
        _listener(runs),
        _counters(runs, "Server namespace counters", client=False),
        _counters(runs, "Client namespace counters", client=True),
        _sysctls(runs),
        f"<h2>Scenario</h2><pre>{escape(scenario_text)}</pre>" if scenario_text else "",
        _notes(runs),
    ]
    title = escape(runs[0].scenario)
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        # the browser itself refuses to fetch anything, should anything ever ask
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>tcpq: {title}</title><style>{CSS}</style></head><body>"
        + "".join(parts)
        + "<p class=dim>Written by tcpq.</p></body></html>\n"
    )
