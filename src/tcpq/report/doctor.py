"""Terminal rendering of doctor findings."""

import json

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from tcpq.types import Finding, Severity

STYLE = {Severity.CRITICAL: "bad", Severity.WARNING: "warn", Severity.INFO: "dim"}


def render_finding(finding: Finding) -> Panel:
    body = Text()
    body.append("evidence  ", style="dim")
    body.append(json.dumps(finding.evidence, default=str))
    body.append("\nwhy       ", style="dim")
    body.append(finding.explanation)
    body.append("\nremedy    ", style="dim")
    body.append(finding.remedy, style="key")
    title = Text.assemble(
        (f"{finding.severity.value.upper()} ", STYLE[finding.severity]), (finding.id, "title")
    )
    return Panel(body, title=title, title_align="left", subtitle=finding.title, subtitle_align="left")


def render_findings(findings: list[Finding], netns: str, interval_s: float) -> RenderableType:
    if not findings:
        return Text(f"healthy: no finding in {netns} over {interval_s:.1f} s", style="good")
    return Group(*(render_finding(finding) for finding in findings))
