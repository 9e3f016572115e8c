"""tcpq trace: connection-establishment events live from tracefs, attributed to listeners."""

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from tcpq.errors import TcpqError

if TYPE_CHECKING:
    from tcpq.trace.session import Record, Summary

NETNS_HELP = "all (default: events are kernel-wide) or an `ip netns` name, a pid, or self."


def _port(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise TcpqError(f"--port {text!r}: give a port from 1 to 65535")
    return int(text)


def _duration(text: str | None) -> float | None:
    from tcpq.units import parse_duration

    if text is None:
        return None
    try:
        seconds = parse_duration(text) / 1_000_000
    except ValueError as exc:
        raise TcpqError(f"--duration: {exc}") from None
    if seconds <= 0:
        raise TcpqError("--duration must be above 0, e.g. 10s")
    return seconds


@click.command("trace")
@click.option("--port", "port_text", metavar="P", default=None, help="Only connections to or from port P.")
@click.option("--netns", default="all", show_default=True, metavar="all|NAME", help=NETNS_HELP)
@click.option("--duration", "duration_text", metavar="TIME", default=None, help="Stop after TIME (e.g. 10s).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines (schema in docs/trace.md).")
@click.option("--summary", "with_summary", is_flag=True, help="End with the per-listener table of the run.")
def trace(
    port_text: str | None, netns: str, duration_text: str | None, as_json: bool, with_summary: bool
) -> None:
    """Connection-establishment events live from tracefs (root), tied to listeners.

    SYN and SYN-ACK retransmissions, final-ACK overflows (kfree_skb TCP_LISTEN_OVERFLOW),
    resets and state changes, each with its namespace, listener and owning process (never the
    process that happened to be on the CPU); every second the counters beside them, and the
    SYNs dropped at SYN time that no tracepoint shows. tracefs is mounted only in a private
    mount namespace; the instance tcpq-PID is removed on exit, Ctrl-C and SIGTERM.

    \b
    Examples:
      sudo .venv/bin/tcpq trace --port 8080
      sudo .venv/bin/tcpq trace --netns web --duration 30s --summary
      sudo .venv/bin/tcpq trace --json --duration 10s > events.jsonl
    """
    from tcpq.trace.session import TraceOptions, TraceSession

    options = TraceOptions(port=_port(port_text), netns=netns, duration_s=_duration(duration_text))
    emit, flush = _printer(as_json)
    with TraceSession(options) as session:
        summary = session.run(emit, flush)
    if with_summary:
        _print_summary(summary, as_json)
    if session.interrupted is not None:
        raise session.interrupted


_ENCODER = json.JSONEncoder(separators=(",", ":"))  # json.dumps with arguments makes one a call


def dumps(data: dict[str, Any]) -> str:
    """One JSON document per line (JSON lines), so a reader can act on each event as it comes."""
    return _ENCODER.encode(data)


def _printer(as_json: bool) -> "tuple[Callable[[Record], None], Callable[[], None]]":
    """(emit, flush): event lines are buffered and flushed once per batch of the session (a
    flush per line was a write() per event: ≈15 µs each at 10k events/s), the rest at once."""
    from tcpq.report import trace as render
    from tcpq.trace.events import Lost
    from tcpq.trace.session import EventRecord, Interval, Started

    out = sys.stdout
    pending: list[str] = []
    line = pending.append

    def flush() -> None:
        if pending:
            pending.append("")  # the last line's newline
            out.write("\n".join(pending))
            pending.clear()
        out.flush()

    def emit(record: "Record") -> None:
        if isinstance(record, Started):
            if as_json:
                line(dumps(render.started_dict(record)))
                flush()  # a script waits for this line to start its traffic
            for text in render.started_lines(record):
                click.echo(text, err=True)
        elif isinstance(record, EventRecord):
            line(dumps(render.event_dict(record)) if as_json else render.event_line(record))
        elif isinstance(record, Interval):
            if as_json:
                line(dumps(render.interval_dict(record)))
            else:
                for text in render.interval_lines(record):
                    line(text)
        elif isinstance(record, Lost):
            if as_json:
                line(dumps(render.lost_dict(record.cpu, record.count)))
            else:
                flush()
                message = f"lost {record.count} events on CPU {record.cpu} (the buffer overflowed)"
                click.echo(message, err=True)

    return emit, flush


def _print_summary(summary: "Summary", as_json: bool) -> None:
    from tcpq.report import trace as render

    if as_json:
        click.echo(dumps(render.summary_dict(summary)))
    else:
        for line in render.summary_lines(summary):
            click.echo(line)
