"""`tcpq top`: the live terminal view (Textual). app.py renders, model.py decides what is shown,
source.py reads; `run` ties them and turns how the view ended into what the CLI reports."""

from tcpq.app.host_session import Targets, target_label
from tcpq.errors import TcpqError, Terminated


def run(target: Targets, interval_s: float, count: int | None = None) -> None:
    """Show the view until `q`; Ctrl-C raises KeyboardInterrupt and SIGTERM/SIGHUP Terminated
    (the CLI exits 130 or 128 + signal), a reader error is re-raised, each after the terminal
    has been restored."""
    from tcpq.top.app import TopApp
    from tcpq.top.model import ALL
    from tcpq.top.source import Watch

    source = Watch(target, interval_s, count)
    # One namespace asked for: show it by its name; `--netns all`: every one, `n` narrows.
    label = target_label(target)
    scope = ALL if label is None else label
    app = TopApp(source, source.interval_s, scope=scope)
    app.run()
    outcome = app.outcome
    if outcome.error is not None:
        if isinstance(outcome.error, TcpqError):
            raise outcome.error
        raise TcpqError(f"reading stopped: {outcome.error}") from outcome.error
    if outcome.signum is not None:
        raise Terminated(outcome.signum)
    if outcome.interrupted:
        raise KeyboardInterrupt
