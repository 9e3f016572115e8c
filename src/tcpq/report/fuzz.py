"""`tcpq lab fuzz`: the terminal report and the JSON of a FuzzReport."""

from pathlib import PurePath
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tcpq.app.fuzz_causes import FuzzReport

FILES_SHOWN = 6  # per cause; the JSON lists them all


def fuzz_dict(report: FuzzReport) -> dict[str, Any]:
    scenarios = []
    for case in report.cases:
        entry: dict[str, Any] = {"index": case.index, "name": case.name}
        if case.file is not None:
            entry["file"] = case.file
        entry |= {
            "agrees": case.agrees,
            "cause": case.cause,
            "differing": [row.metric for row in case.differing],
        }
        if case.error is not None:
            entry["error"] = case.error
        scenarios.append(entry)
    return {
        "seed": report.seed,
        "kernel": report.kernel,
        "requested": report.requested,
        "finished": report.finished,
        "interrupted": report.interrupted,
        "scenarios": scenarios,
        "agree_share": None if report.agree_share is None else round(report.agree_share, 4),
        "causes": {
            group.cause: {
                "count": group.count,
                "scenarios": [case.name for case in group.cases],
                "files": [case.file for case in group.cases if case.file is not None],
            }
            for group in report.causes
        },
        "keep_dir": report.keep_dir,
    }


def render_fuzz(report: FuzzReport) -> RenderableType:
    parts: list[RenderableType] = [
        Text(
            f"tcpq lab fuzz --seed {report.seed}: {report.finished} of {report.requested} scenarios, "
            f"model vs kernel {report.kernel}",
            style="title",
        )
    ]
    if report.interrupted:
        parts.append(Text("interrupted: the summary covers the scenarios that finished", style="warn"))
    if report.causes:
        heading = Text("disagreements by cause (the most telling metric that differs)", style="title")
        parts += [Text(""), heading, _causes_table(report)]
    parts += [Text(""), _summary(report)]
    examples = [case.file for group in report.causes for case in group.cases if case.file is not None]
    if examples and report.keep_dir is not None:  # an example of the most common cause
        parts.append(Text(f"disagreeing scenarios kept in {report.keep_dir}/; rerun one with", style="dim"))
        parts.append(Text(f"  sudo .venv/bin/tcpq compare {examples[0]}"))
    return Group(*parts)


def _causes_table(report: FuzzReport) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("cause", no_wrap=True)
    table.add_column("n", justify="right")
    table.add_column("scenarios", overflow="fold", ratio=1)
    for group in report.causes:
        names = [PurePath(case.file).name if case.file else case.name for case in group.cases]
        shown = ", ".join(names[:FILES_SHOWN])
        if len(names) > FILES_SHOWN:
            shown += f", … {len(names) - FILES_SHOWN} more"
        table.add_row(Text(group.cause, style="bad"), str(group.count), shown)
    return table


def _summary(report: FuzzReport) -> Text:
    share = report.agree_share
    if share is None:
        return Text("no scenario finished", style="warn")
    text = f"{report.agreeing} of {report.finished} scenarios agree ({share * 100:.0f} %)"
    return Text(text, style="good" if report.agreeing == report.finished else "bad")
