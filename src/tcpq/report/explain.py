"""Terminal rendering of a `tcpq explain` entry.

Catalogue text is wrapped in `Text` objects rather than markup strings, so brackets in kernel
history ("[PATCH]", "[NET]") are printed as written instead of being read as rich styles.
"""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.constrain import Constrain
from rich.panel import Panel
from rich.style import Style
from rich.table import Table
from rich.text import Text

from tcpq.kernel.counters import Counter
from tcpq.kernel.lookup import Entry
from tcpq.kernel.states import StateInfo
from tcpq.kernel.sysctls import Sysctl, SysctlValue, Verdict
from tcpq.kernel.versions import KernelVersion, format_version
from tcpq.report.theme import THEME


def _style(name: str) -> Style:
    """A style from the shared theme, resolved here so any Console (themed or not) can print it."""
    return THEME.styles[name]


WIDTH = 80  # explain reads like a man page: at most 80 columns, in a terminal or a pipe

VERDICT_STYLE: dict[Verdict, str] = {
    Verdict.RIGHT: "good",
    Verdict.PARTLY: "warn",
    Verdict.OUTDATED: "warn",
    Verdict.WRONG: "bad",
}


def render_entry(entry: Entry, version: KernelVersion) -> RenderableType:
    """A panel describing `entry`, with sysctl defaults as they are on `version`."""
    item = entry.item
    if isinstance(item, Sysctl):
        body = _sysctl_body(item, version)
        kind = f"sysctl, {item.scope.value}"
    elif isinstance(item, Counter):
        body = _counter_body(item)
        kind = f"counter, {item.file.value}"
    else:
        body = _state_body(item)
        kind = "TCP state"
    title = Text.assemble((entry.name, _style("title")), "  ", (kind, _style("dim")))
    return Constrain(Panel(body, title=title, title_align="left", box=box.ROUNDED), WIDTH)


def render_topics(entries: list[Entry]) -> RenderableType:
    """`explain --list`: one topic a line (kind, name, the start of its meaning), for grep."""
    kind_width = max(len(entry.kind.value) for entry in entries)
    name_width = max(len(entry.name) for entry in entries)
    lines = []
    for entry in entries:
        line = Text.assemble(
            (entry.kind.value.ljust(kind_width + 2), _style("dim")),
            (entry.name.ljust(name_width + 2), _style("key")),
            " ".join(entry.item.meaning.split()),
            no_wrap=True,
            overflow="ellipsis",  # a terminal narrower than WIDTH cuts the meaning, not the line
        )
        line.truncate(WIDTH, overflow="ellipsis")
        lines.append(line)
    return Group(*lines)


def _fields(rows: list[tuple[str, str | Text]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style=_style("key"), no_wrap=True)
    grid.add_column(ratio=1)
    for label, value in rows:
        if value:
            grid.add_row(label, value if isinstance(value, Text) else Text(value))
    return grid


def _value_text(value: SysctlValue | None, unit: str) -> Text:
    if value is None:
        return Text("absent (no such sysctl)", style=_style("bad"))
    shown = f"{value[0]} {value[1]}" if isinstance(value, tuple) else str(value)
    return Text(f"{shown} {unit}" if unit in ("s", "ms", "us") else shown)


def _range_text(low: int | None, high: int | None) -> str:
    if low is None and high is None:
        return "not checked by the kernel"
    if high is None:
        return f">= {low}"
    if low is None:
        return f"<= {high}"
    return f"{low} to {high}"


def _sysctl_body(sysctl: Sysctl, version: KernelVersion) -> RenderableType:
    steps = Text()
    for index, step in enumerate(sysctl.defaults):
        if index:
            steps.append("; ")
        steps.append(f"{format_version(step.since)}+: ")
        steps.append_text(_value_text(step.value, sysctl.unit))
    fields = _fields(
        [
            ("meaning", sysctl.meaning),
            (f"default on {format_version(version)}", _value_text(sysctl.default_for(version), sysctl.unit)),
            ("by version", steps),
            ("scope", sysctl.scope.value),
            ("unit", sysctl.unit),
            ("range", _range_text(sysctl.minimum, sysctl.maximum)),
            ("history", sysctl.history),
            ("tcpq model", "reads this sysctl" if sysctl.used_by_model else "does not read this sysctl"),
            ("kernel-model", sysctl.kernel_model),
        ]
    )
    if not sysctl.seed_claims:
        return fields
    claims = Table(box=box.SIMPLE_HEAD, expand=True, title="seed article claims", title_justify="left")
    claims.add_column("verdict", no_wrap=True)
    claims.add_column("claim", ratio=1)
    claims.add_column("what is true", ratio=1)
    for claim in sysctl.seed_claims:
        truth = Text(claim.truth)
        truth.append(f"\nsince: {claim.since}", style=_style("dim"))
        claims.add_row(
            Text(claim.verdict.value, style=_style(VERDICT_STYLE[claim.verdict])), Text(claim.claim), truth
        )
    return Group(fields, claims)


def _counter_body(counter: Counter) -> RenderableType:
    return _fields(
        [
            ("meaning", counter.meaning),
            ("nstat", counter.nstat),
            ("kernel name", f"{counter.group} {counter.kernel_name}"),
            ("kernel enum", counter.mib),
            ("file", counter.file.value),
            ("netstat -s", counter.netstat_s.replace("{n}", "N")),
            ("incremented in", counter.increments),
            ("kernel-model", counter.kernel_model),
        ]
    )


def _state_body(info: StateInfo) -> RenderableType:
    return _fields(
        [
            ("meaning", info.meaning),
            ("number", f"{info.state.value} (/proc/net/tcp st {info.proc_st})"),
            ("ss", info.ss_name),
            ("netstat", info.netstat_name or "not listed"),
            ("entered", info.entered),
            ("left", info.left),
            ("seed articles", info.seed_note),
            ("kernel-model", info.kernel_model),
        ]
    )
