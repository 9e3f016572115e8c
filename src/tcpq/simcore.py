"""Which simulator core runs: the compiled one (setup.py, mypyc) or, with TCPQ_PURE=1, the sources."""

import os
import sys

TYPE_CHECKING = False  # not typing's: every tcpq command imports this module, typing costs ~5 ms
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType


class _SourcesFirst:  # a meta path finder (importlib.abc.MetaPathFinder's protocol, not its import)
    """Finds the modules of `packages` as .py files only (before the default finders)."""

    def __init__(self, packages: tuple[str, ...]) -> None:
        self.packages = packages

    def _ours(self, name: str) -> bool:
        return any(name == package or name.startswith(package + ".") for package in self.packages)

    def find_spec(
        self, fullname: str, path: "Sequence[str] | None", target: "ModuleType | None" = None
    ) -> "ModuleSpec | None":
        if path is None or not self._ours(fullname):
            return None
        from importlib.machinery import SOURCE_SUFFIXES, FileFinder, SourceFileLoader

        for entry in path:
            spec = FileFinder(entry, (SourceFileLoader, SOURCE_SUFFIXES)).find_spec(fullname)
            if spec is not None:
                return spec
        return None


def _sources_preferred() -> bool:
    return any(isinstance(finder, _SourcesFirst) for finder in sys.meta_path)


def prefer_sources(packages: tuple[str, ...]) -> None:
    if not _sources_preferred():
        sys.meta_path.insert(0, _SourcesFirst(packages))


def _stale(directory: str) -> bool:
    """Whether some compiled module of `directory` is older than its source."""
    built: dict[str, float] = {}
    sources: dict[str, float] = {}
    with os.scandir(directory) as entries:
        for entry in entries:
            stem, _, suffix = entry.name.partition(".")
            if suffix.endswith("so"):
                built[stem] = entry.stat().st_mtime
            elif suffix == "py":
                sources[stem] = entry.stat().st_mtime
    return any(sources.get(stem, 0.0) > when for stem, when in built.items())


def say_why_not_compiled(root: str) -> None:
    """Once, on the first run after a build that could not compile the core (setup.py leaves
    the reason in NOT_COMPILED: pip hides a successful build's output)."""
    marker = os.path.join(root, "NOT_COMPILED")
    if not os.path.exists(marker):
        return
    try:
        with open(marker, encoding="utf-8") as text:
            reason = text.read().strip()
        os.unlink(marker)
    except OSError:
        return  # another user's install, or a read-only one: say nothing rather than fail
    print(f"tcpq: {reason}; the simulator runs as pure Python (slower, same results)", file=sys.stderr)


def use_sources_if_stale(root: str, packages: tuple[str, ...]) -> None:
    """Run the sources where the compiled core is older than them: an edit since the last
    `pip install -e .` would otherwise not be seen."""
    directories = [os.path.join(root, *package.split(".")[1:]) for package in packages]
    if any(_stale(directory) for directory in directories if os.path.isdir(directory)):
        print(
            "tcpq: the compiled simulator core is older than its sources; running the sources"
            " (pip install -e . compiles it again)",
            file=sys.stderr,
        )
        prefer_sources(packages)


def compiled() -> bool:
    """Whether the simulator core in use is the compiled one."""
    from tcpq.sim import engine

    return not engine.__file__.endswith(".py") if engine.__file__ else False


def describe(root: str) -> str:
    """Which core a simulation would run, for `tcpq --version`, without importing it (the
    host commands never load the simulator): what tcpq/__init__ decided at import, and
    whether there is a compiled core to run at all."""
    if _sources_preferred():  # installed at import: TCPQ_PURE=1, or a stale compiled core
        if os.environ.get("TCPQ_PURE"):
            return "pure Python (TCPQ_PURE=1)"
        return "pure Python (the compiled core is older than its sources)"
    from importlib.machinery import EXTENSION_SUFFIXES

    engine = os.path.join(root, "sim", "engine")
    if not any(os.path.exists(engine + suffix) for suffix in EXTENSION_SUFFIXES):
        return "pure Python (not compiled: `pip install -e .` compiles it where gcc and Python's headers are)"
    return "compiled (mypyc)"
