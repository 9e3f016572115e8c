"""Build tcpq with its simulator core compiled by mypyc, or as pure Python when that fails.

The simulator (src/tcpq/sim) and the kernel model (src/tcpq/model) are compiled from the very
files that are the executable specification: one source, run by the interpreter or as C.
`TCPQ_PURE_BUILD=1 pip install -e .` builds without compiling; `TCPQ_PURE=1` at run time
imports the Python sources even where compiled modules sit beside them (the reference model,
which tests/sim/test_compiled.py compares with the compiled one). Why mypyc and what it gains:
docs/benchmarks.md, "A compiled simulator core".
"""

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
# Every module of the two packages: what the simulator's event loop calls per packet and timer.
COMPILED = sorted(
    str(path.relative_to(ROOT))
    for package in ("sim", "model")
    for path in (ROOT / "src" / "tcpq" / package).glob("*.py")
)


# pip shows a build's output only when it fails, so the reason for a pure-Python build is also
# left here, where tcpq's first run says it once on stderr (tcpq/simcore.py) and removes it.
NOT_COMPILED = ROOT / "src" / "tcpq" / "NOT_COMPILED"


def _say(text: str) -> None:
    print(f"tcpq: {text}", file=sys.stderr, flush=True)


def _brief(error: BaseException) -> str:
    """One short line: a failing compiler's whole command line says nothing a user needs."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "returned non-zero exit status" in text:
        return "the C compiler failed"
    return text if len(text) <= 100 else text[:97] + "..."


def _remove_compiled_core() -> None:
    """An earlier build's modules would run in place of the sources this build could not compile."""
    src = ROOT / "src"
    for pattern in ("tcpq/sim/*.so", "tcpq/model/*.so", "*__mypyc*.so"):
        for path in src.glob(pattern):
            path.unlink(missing_ok=True)


def _pure(reason: str) -> None:
    _say(f"{reason}; using the pure-Python model")
    _remove_compiled_core()
    NOT_COMPILED.write_text(reason + "\n", encoding="utf-8")


class OptionalBuildExt(build_ext):
    """build_ext that leaves tcpq pure Python, with one line on stderr, when compiling fails:
    the compiled core is a speed-up, never a requirement."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # a compiler or header missing: any failure means pure Python
            for output in self.get_outputs():
                Path(output).unlink(missing_ok=True)  # never half a compiled core
            _pure(f"the simulator core could not be compiled ({_brief(error)})")


# The commands that build; the others (egg_info, dist_info: pip asking for metadata) need no
# extensions, and mypyc's type check of the sources takes seconds each time.
BUILDING = {"build", "build_ext", "bdist_wheel", "editable_wheel", "install", "develop"}


def _extensions() -> list[object]:
    if not BUILDING.intersection(sys.argv[1:]):
        return []
    NOT_COMPILED.unlink(missing_ok=True)
    if os.environ.get("TCPQ_PURE_BUILD"):
        _say("TCPQ_PURE_BUILD is set: building the pure-Python model only")
        _remove_compiled_core()
        return []
    try:
        from mypyc.build import mypycify
    except ImportError as error:
        _pure(f"mypyc is not installed ({_brief(error)})")
        return []
    # pyproject's [tool.mypy] names the pydantic plugin, and the build's own environment has
    # neither pydantic nor numpy: mypyc type-checks with a config of its own, takes what it
    # cannot import as Any (none of it is on the per-packet path) and reports errors only in
    # the modules it compiles (a numpy type alias elsewhere is no type without numpy). A cache
    # of its own: the repository's .mypy_cache, written with numpy installed, would hide that.
    config = ROOT / "build" / "mypyc.ini"
    config.parent.mkdir(exist_ok=True)
    cache = ROOT / "build" / "mypyc-cache"
    config.write_text(
        f"[mypy]\nignore_missing_imports = True\nfollow_imports = silent\ncache_dir = {cache}\n"
    )
    options = ["--config-file", str(config)]
    try:  # mypy names each module by its package (src/ has no __init__.py): tcpq.sim.engine ...
        return list(mypycify([*options, *COMPILED], opt_level="3"))
    except (Exception, SystemExit) as error:  # mypy reports a failed type check by exiting
        _pure(f"mypyc could not compile the simulator ({_brief(error)})")
        return []


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
