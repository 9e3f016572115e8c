"""One error tree: the CLI turns every TcpqError into one line and exit status 2."""


class TcpqError(Exception):
    """Base of every error tcpq reports to a user."""


class ScenarioError(TcpqError):
    """A scenario file or an override is invalid; the message names the key and the file."""


class ParseError(TcpqError):
    """Text from the kernel or a user could not be parsed."""


class PermissionDenied(TcpqError):
    """The operation needs privileges tcpq does not have."""


class UnsupportedKernel(TcpqError):
    """A kernel version tcpq has no behaviour profile for."""


class UnknownTerm(TcpqError):
    """`tcpq explain` found no catalogue entry; carries the nearest names."""

    def __init__(self, term: str, suggestions: list[str]) -> None:
        self.term = term
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown term {term!r}{hint}")


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP during a lab run: unwinds like Ctrl-C (every `finally` cleans up), and
    the CLI exits 128 + the signal number, as a shell reports a program that signal stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


class TransitionError(RuntimeError):
    """A simulator handler asked for a transition its table (sim/lifecycle.py) does not allow:
    a bug in the simulator, not a user's error. Here, not in the compiled simulator, because a
    class compiled by mypyc cannot inherit from a built-in exception."""
