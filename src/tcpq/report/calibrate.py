"""Renders a host calibration (`tcpq lab calibrate`); computes nothing."""

from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

from tcpq.types import Calibration


def render_calibration(calibration: Calibration, files: list[Path]) -> Group:
    timing = calibration.timing
    table = Table(title=f"Host speed, kernel {calibration.kernel}", title_justify="left")
    table.add_column("\\[host] key")
    table.add_column("value", justify="right")
    table.add_column("what", overflow="fold")
    wake = ", ".join(str(value) for value in timing.wakeup_us)
    samples = calibration.samples
    table.add_row("hz", str(timing.hz), "timer tick (CONFIG_HZ)")
    table.add_row(
        "connect_gap", f"{timing.connect_gap_us} µs", f"between connect() calls ({samples['connect']})"
    )
    table.add_row(
        "cold_call", f"{timing.cold_call_us} µs", f"more for a burst's first call ({samples.get('cold', 0)})"
    )
    costs = timing.costs()
    table.add_row("packet_cost", f"{timing.packet_us} µs", f"other packets ({samples['packet']} waves)")
    for key, value, what in (
        ("syn_cost", costs.syn, "a SYN answered"),
        ("synack_cost", costs.synack, "a SYN-ACK at the client"),
        ("child_cost", costs.child, "a final ACK that makes a child"),
        ("drop_cost", costs.drop, "one a full accept queue drops"),
    ):
        table.add_row(key, f"{value / 1000:.1f} µs", what)
    table.add_row("inline_packet_cost", f"{timing.inline_packet_us} µs", "a packet inside connect()")
    table.add_row("accept_cost", f"{timing.accept_us} µs", f"one accept() ({samples['accept']})")
    table.add_row("wakeup", "deciles", f"{wake} µs ({samples['wakeup']} wake-ups)")
    table.add_row(
        "behind_client", f"{timing.behind_client:.0%}", "lab runs whose server waits out the client's burst"
    )
    table.add_row(
        "workers_behind_client",
        f"{timing.workers_behind_client:.0%}",
        f"... whose worker threads do ({samples.get('worker_placement', 0)})",
    )
    late = ", ".join(str(value) for value in timing.timer_late_us)
    table.add_row(
        "timer_late", "deciles", f"{late} µs late, the client's timeouts ({samples.get('timer', 0)})"
    )
    for key, values, what in (
        ("sleep_late", timing.sleep_late_us, "a worker's sleep under 5 ms ends late"),
        ("long_sleep_late", timing.long_sleep_late_us, "... one of 5 ms or more"),
    ):
        table.add_row(
            key, "deciles", f"{', '.join(str(v) for v in values)} µs: {what} ({samples.get('sleep', 0)})"
        )
    parts: list[Table | Text] = [table]
    parts += [Text(f"note: {note}") for note in calibration.notes]
    parts += [Text(f"written: {path}") for path in files]
    return Group(*parts)
