"""The host's measured speed, kept per boot: what `tcpq compare` gives the model side.

`tcpq lab calibrate` measures it (lab/calibrate.py) and writes it here too; a compare on a
machine not yet calibrated since boot measures it first (a few seconds). The cache is
`$XDG_CACHE_HOME/tcpq/host-<boot id>.toml` (default `~/.cache/tcpq`), so a reboot — a new
kernel, perhaps — measures again.
"""

import os
import time
from pathlib import Path

from tcpq.lab.calibrate import calibrate
from tcpq.scenario import load_host_table
from tcpq.types import Calibration


def cache_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = "unknown-boot"
    return base / "tcpq" / f"host-{boot}.toml"


def save(calibration: Calibration, path: Path | None = None) -> Path:
    """Write the calibration as a [host] file; returns where."""
    target = path or cache_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(host_toml(calibration, time.strftime("%Y-%m-%d %H:%M:%S")), encoding="utf-8")
    return target


# The [host] keys a calibration writes; a cached file without one of them was written by an
# older tcpq, which did not measure it: it is measured again rather than taken as the
# reference machine's.
MEASURED_KEYS = frozenset(
    {
        "connect_gap",
        "cold_call",
        "wakeup",
        "behind_client",
        "workers_behind_client",
        "timer_late",
        "sleep_late",
        "long_sleep_late",
    }
)


def host_table() -> tuple[dict[str, object], Path]:
    """The [host] table measured on this machine since boot (measuring it now if missing)."""
    path = cache_path()
    if not path.exists() or not load_host_table(path).keys() >= MEASURED_KEYS:
        save(calibrate(), path)
    return load_host_table(path), path


def host_toml(calibration: Calibration, when: str) -> str:
    """The file `tcpq simulate --host FILE` reads: a [host] table with its provenance."""
    timing = calibration.timing
    lines = [
        f"# Written by `sudo .venv/bin/tcpq lab calibrate` on {when}, kernel {calibration.kernel}.",
        "# Use: tcpq simulate FILE --host THIS_FILE (or copy the table into a scenario).",
        *(f"# note: {note}" for note in calibration.notes),
        "[host]",
        f"hz = {timing.hz}",
        f'connect_gap = "{timing.connect_gap_us}us"',
        f'cold_call = "{timing.cold_call_us}us"',
        f'packet_cost = "{timing.packet_us}us"',
        f'syn_cost = "{timing.syn_ns}ns"',
        f'synack_cost = "{timing.synack_ns}ns"',
        f'child_cost = "{timing.child_ns}ns"',
        f'drop_cost = "{timing.drop_ns}ns"',
        f'inline_packet_cost = "{timing.inline_packet_us}us"',
        f"wakeup = {_durations(timing.wakeup_us)}",
        f"behind_client = {timing.behind_client}",
        f"workers_behind_client = {timing.workers_behind_client}",
        f'accept_cost = "{timing.accept_us}us"',
        f'slice = "{timing.slice_us}us"',
        f"timer_late = {_durations(timing.timer_late_us)}",
        f"sleep_late = {_durations(timing.sleep_late_us)}",
        f"long_sleep_late = {_durations(timing.long_sleep_late_us)}",
        "# not measured: the reference machine's values (docs/scenarios.md, [host])",
        f'warm_wakeup = "{timing.warm_wakeup_us}us"',
        f'cold_after = "{timing.cold_after_us}us"',
        "",
    ]
    return "\n".join(lines)


def _durations(values: tuple[int, ...]) -> str:
    """A TOML list of µs durations: ["240us", "285us"]."""
    return "[" + ", ".join(f'"{value}us"' for value in values) + "]"
