"""tcpq export: a Prometheus exporter of listeners, counters and states."""

import click

from tcpq.cli_host import NETNS_HELP


@click.command()
@click.option(
    "--listen",
    default="127.0.0.1:9841",
    show_default=True,
    metavar="HOST:PORT",
    help="Address to serve /metrics on (0.0.0.0 exposes it beyond this host).",
)
@click.option("--netns", "netns", default=None, metavar="NAME|PID|all", help=NETNS_HELP)
@click.option(
    "--min-interval",
    default="1s",
    show_default=True,
    metavar="DURATION",
    help="Scrapes closer together than this share one scan (e.g. 200ms, 5s).",
)
@click.option(
    "--all-ports",
    is_flag=True,
    help='One series per listener on an ephemeral port too (default: folded into port="ephemeral").',
)
def export(listen: str, netns: str | None, min_interval: str, all_ports: bool) -> None:
    """Serve listeners, queues, counters, states and sysctls as Prometheus metrics.

    One scan per scrape: counters are cumulative, Prometheus computes the rates. A namespace
    that vanishes shows as tcpq_netns_up 0. Runs until Ctrl-C or SIGTERM.

    \b
    Examples:
      tcpq export
      sudo .venv/bin/tcpq export --netns all --listen 127.0.0.1:9841
      tcpq export --min-interval 5s --all-ports
      curl -s http://127.0.0.1:9841/metrics | grep tcpq_listener_accept_queue
    """
    from tcpq.export import server

    host, port = server.parse_listen(listen)
    config = server.ExportConfig(host, port, netns, server.parse_min_interval(min_interval), all_ports)
    server.run(config)
