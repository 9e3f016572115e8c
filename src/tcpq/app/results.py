"""Saved results read back: a `--json`/`--out` file of simulate, lab or compare.

The JSON is the one report/json.py writes (DESIGN.md's contract); pydantic validates it back
into the same frozen dataclasses, so a saved run renders exactly as a fresh one.
"""

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from tcpq.compare import Comparison
from tcpq.errors import TcpqError
from tcpq.records import frozen
from tcpq.types import RunResult

_RUN = TypeAdapter(RunResult)
_COMPARISON = TypeAdapter(Comparison)


@frozen
class SavedResult:
    runs: list[RunResult]  # one run, or the model's and the kernel's
    comparison: Comparison | None


def load_result(path: Path) -> SavedResult:
    """A RunResult JSON (simulate, lab) or a comparison JSON (compare: sim, lab, comparison)."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TcpqError(f"cannot read {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TcpqError(f"{path}: not JSON ({exc})") from None
    try:
        if isinstance(data, dict) and {"sim", "lab", "comparison"} <= data.keys():
            runs = [_RUN.validate_python(data["sim"]), _RUN.validate_python(data["lab"])]
            return SavedResult(runs, _COMPARISON.validate_python(data["comparison"]))
        return SavedResult([_RUN.validate_python(data)], None)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the top level"
        raise TcpqError(
            f"{path}: not a tcpq result ({where}: {first['msg']}); "
            "expected the JSON of `tcpq simulate`, `tcpq lab` or `tcpq compare`"
        ) from None
