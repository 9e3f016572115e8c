"""Rendering of doctor findings: the terminal view, the JSON and the sysctl.d file, all from the
same Finding data (the remedy is data; its text is made here, never parsed back)."""

import shlex
from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from tcpq.report.json import to_jsonable
from tcpq.types import AppChange, Finding, Remedy, Severity, SysctlChange

STYLE = {Severity.CRITICAL: "bad", Severity.WARNING: "warn", Severity.INFO: "dim"}


def sysctl_value(value: int | tuple[int, int]) -> str:
    return f'"{value[0]} {value[1]}"' if isinstance(value, tuple) else str(value)


def sysctl_command(change: SysctlChange) -> str:
    prefix = "" if change.netns == "self" else f"ip netns exec {change.netns} "
    return f"{prefix}sysctl -w {change.name}={sysctl_value(change.value)}"


def _current(change: SysctlChange) -> str:
    return "" if change.current is None else f" (now {sysctl_value(change.current).strip(chr(34))})"


def app_text(app: AppChange) -> str:
    action = app.action[:1].upper() + app.action[1:]
    return f"{action}: {app.example}" if app.example else action


def remedy_lines(remedy: Remedy) -> list[str]:
    """The remedy as lines of text, in the order to act on them."""
    lines = [remedy.advice] if remedy.advice else []
    if remedy.app is not None:
        lines.append(app_text(remedy.app))
    lines.extend(sysctl_command(change) + _current(change) for change in remedy.sysctls)
    if remedy.applies:
        lines.append(f"({remedy.applies})")
    return lines


def remedy_text(remedy: Remedy) -> str:
    return " ".join(line if line.endswith((".", ":", ")")) else line + ";" for line in remedy_lines(remedy))


def _evidence_text(evidence: dict[str, object]) -> Text:
    text = Text()
    for index, (key, value) in enumerate(evidence.items()):
        if index:
            text.append("  ")
        text.append(f"{key} ", style="dim")
        text.append(str(to_jsonable(value)) if isinstance(value, list | dict) else str(value))
    return text


class Command:
    """A shell command that stays copyable at any width: too long for the line, it is broken
    at spaces outside quotes with a trailing backslash, as a shell continues it."""

    def __init__(self, command: str, indent: int = 4) -> None:
        self.command, self.indent = command, indent

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(20, options.max_width - self.indent - 2)
        pad = " " * self.indent
        for line in _continued(self.command, width):
            yield Text(pad + line, style="key", no_wrap=True, overflow="fold")


def _continued(command: str, width: int) -> list[str]:
    words, lines, current = shlex.split(command, posix=False), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current + " \\")
            current = "  " + word
        else:
            current = f"{current} {word}" if current else word
    return [*lines, current]


def _sentence(text: str) -> str:
    return text if text.endswith((".", ":", ")")) else text + "."


def render_finding(finding: Finding) -> RenderableType:
    remedy = finding.remedy
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("evidence", _evidence_text(finding.evidence))
    grid.add_row("why", finding.explanation)
    prose = [remedy.advice] if remedy.advice else []
    if remedy.app is not None:
        prose.append(_sentence(app_text(AppChange(remedy.app.runtime, remedy.app.action))))
    grid.add_row("remedy", Text(" ".join(prose), style="key"))
    commands = ([remedy.app.example] if remedy.app and remedy.app.example else []) + [
        sysctl_command(change) for change in remedy.sysctls
    ]
    title = Text.assemble(
        (f"{finding.severity.value.upper()} ", STYLE[finding.severity]), (finding.id, "title")
    )
    lines: list[RenderableType] = [
        title,
        Padding(Text(finding.title), (0, 0, 0, 2)),
        Padding(grid, (0, 0, 0, 2)),
    ]
    lines.extend(Command(command) for command in commands)
    if remedy.applies:
        lines.append(Padding(Text(f"({remedy.applies})", style="dim"), (0, 0, 0, 4)))
    lines.append(Text(""))
    return Group(*lines)


def render_findings(findings: list[Finding], netns: str, interval_s: float) -> RenderableType:
    where = "the host namespace" if netns == "self" else f"network namespace {netns}"
    if not findings:
        return Text(f"healthy: no finding in {where} over {interval_s:.1f} s", style="good")
    header = Text(f"{len(findings)} finding(s) in {where} over {interval_s:.1f} s", style="title")
    return Group(header, *(render_finding(finding) for finding in findings))


def finding_dict(finding: Finding) -> dict[str, Any]:
    """A Finding as DESIGN.md's doctor JSON: `remedy` is its text, the data beside it."""
    data: dict[str, Any] = to_jsonable(finding)
    data["remedy"] = remedy_text(finding.remedy)
    data["sysctl_changes"] = to_jsonable(finding.remedy.sysctls)
    data["app_change"] = to_jsonable(finding.remedy.app)
    return data


def sysctl_file(findings: Iterable[Finding]) -> str:
    """The sysctl changes the findings suggest, as a commented sysctl.d file, one block per
    namespace (a sysctl.d file is read in the host namespace only; other blocks say how)."""
    lines = [
        "# Suggested by `tcpq doctor`. Review before use; tcpq applies nothing itself.",
        "# Install as /etc/sysctl.d/90-tcpq.conf (host namespace).",
    ]
    seen: set[tuple[str, str]] = set()
    for finding in findings:
        for change in finding.remedy.sysctls:
            if (change.netns, change.name) in seen:
                continue  # one value per sysctl and namespace: the first (most severe) finding's
            seen.add((change.netns, change.name))
            lines += ["", f"# {finding.id}: {finding.title}"]
            if change.netns != "self":
                lines.append(f"# namespace {change.netns}: apply with `{sysctl_command(change)}`")
                lines.append(f"# {change.name} = {sysctl_value(change.value).strip(chr(34))}")
            else:
                lines.append(f"{change.name} = {sysctl_value(change.value).strip(chr(34))}")
    return "\n".join(lines) + "\n"
