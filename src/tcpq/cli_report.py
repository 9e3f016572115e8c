"""`tcpq report`: a saved result (simulate, lab or compare JSON) shown again or pictured."""

from pathlib import Path

import click

from tcpq.cli_common import picture_options, stdout, write_pictures


@click.command("report")
@click.argument("result_file", metavar="RESULT.json", type=click.Path(dir_okay=False, path_type=Path))
@picture_options
def report(result_file: Path, html_file: Path | None, png_dir: Path | None) -> None:
    """Show a saved result (`--json`/`--out` of simulate, lab or compare) again, or write its
    HTML report and charts.

    \b
    Examples:
      tcpq simulate examples/backlog-nobody-accepts.toml --out run.json
      tcpq report run.json
      tcpq report run.json --html run.html --png charts/
    """
    from tcpq.app.results import load_result
    from tcpq.report.compare import render_comparison
    from tcpq.report.run import render_run

    saved = load_result(result_file)
    if html_file is None and png_dir is None:
        if saved.comparison is not None:
            stdout().print(render_comparison(saved.comparison))
        else:
            stdout().print(render_run(saved.runs[0]))
    write_pictures(saved.runs, saved.comparison, None, html_file, png_dir)
