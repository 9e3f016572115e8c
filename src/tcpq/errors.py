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
