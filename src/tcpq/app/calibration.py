"""The host's measured speed, kept per boot: what `tcpq compare` gives the model side.

`tcpq lab calibrate` measures it (lab/calibrate.py) and writes it here too; a compare on a
machine not yet calibrated since boot measures it first (a few seconds). The cache is
`$XDG_CACHE_HOME/tcpq/host-<boot id>.toml` (default `~/.cache/tcpq`), so a reboot — a new
kernel, perhaps — measures again.
"""

import os
import time
from pathlib import Path

from tcpq.lab.calibrate import calibrate, host_toml
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


def host_table() -> tuple[dict[str, object], Path]:
    """The [host] table measured on this machine since boot (measuring it now if missing)."""
    path = cache_path()
    if not path.exists():
        save(calibrate(), path)
    return load_host_table(path), path
