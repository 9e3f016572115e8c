#!/usr/bin/env python3
"""Show that a change leaves behaviour alone: every example's simulate JSON, byte for byte.

Runs `tcpq simulate FILE --json` for each file in examples/ (and `tcpq sweep` of one small
grid) in this tree and in another revision's tree (a `git worktree` under a temporary
directory, removed afterwards), and reports each output that differs. Exit 0 when all are
identical, 1 when any differs. The reference machine's host timing is used on both sides
(no --host), so the figures do not depend on this machine's calibration.

    .venv/bin/python scripts/same_json.py --before HEAD~5
    .venv/bin/python scripts/same_json.py --before v0.1 --only java-backlog-50
"""

import argparse
import difflib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def outputs(tree: Path, names: list[str]) -> dict[str, str]:
    """Each example's `simulate --json` as run from TREE's own sources."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "NO_COLOR": "1"}
    found: dict[str, str] = {}
    for name in names:
        example = tree / "examples" / f"{name}.toml"
        if not example.exists():
            found[name] = "(no such example in this tree)"
            continue
        run = subprocess.run(
            [sys.executable, "-m", "tcpq", "simulate", str(example), "--json"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tree,
            check=False,
        )
        found[name] = run.stdout if run.returncode == 0 else f"exit {run.returncode}: {run.stderr}"
    return found


def first_difference(before: str, after: str) -> str:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after", lineterm="", n=1)
    return "\n".join(list(diff)[:12])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the revision to compare with (e.g. HEAD~3)")
    parser.add_argument("--only", action="append", default=[], help="an example's name (repeatable)")
    args = parser.parse_args()
    names = args.only or sorted(path.stem for path in (ROOT / "examples").glob("*.toml"))
    with tempfile.TemporaryDirectory(prefix="tcpq-same-json-") as scratch:
        tree = Path(scratch) / "before"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tree), args.before], check=True
        )
        try:
            before = outputs(tree, names)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    after = outputs(ROOT, names)
    differing = [name for name in names if before[name] != after[name]]
    for name in names:
        print(f"{'differs' if name in differing else 'same   '}  {name}")
    for name in differing:
        print(f"\n{name}:\n{first_difference(before[name], after[name])}")
    print(f"\n{len(names) - len(differing)} of {len(names)} identical to {args.before}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
