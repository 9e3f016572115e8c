"""The browser harness itself: each check it offers must be able to fail as well as pass.

Tiny hand-written pages, no tcpq code: a clean inline-SVG chart, a page that fetches, one that
logs an error, one that throws, one that is blank, two that hang.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.report.browser import load_page, needs_chromium

pytestmark = needs_chromium

CHART = """<!doctype html>
<html><head><meta charset="utf-8"><title>t</title>
<style>body { margin: 0; background: #fff; } figure { margin: 10px; }</style></head>
<body><h1>Report</h1>
<figure class="chart" id="chart-x" data-series="2">
<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100" viewBox="0 0 2 2">
<g id="series-x-0"><path d="M 0 0 L 1 1 L 2 2" stroke="#1f77b4" stroke-width="0.1" fill="none"/></g>
<g id="series-x-1"><path d="M 0 2
L 1 1.5
L 1.5 1
L 2 0" stroke="#ff7f0e" stroke-width="0.1" fill="none"/></g>
</svg>
<figcaption>two series</figcaption>
</figure>
</body></html>
"""


def write(tmp_path: Path, body: str, name: str = "page.html") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_a_clean_inline_svg_chart_passes(tmp_path: Path) -> None:
    started = time.monotonic()
    check = load_page(write(tmp_path, CHART))
    assert time.monotonic() - started < 30
    assert check.requests == []
    assert check.console_errors == []
    assert check.page_errors == []
    assert check.dom == {
        "charts": [
            {
                "id": "chart-x",
                "data_series": "2",
                "svgs": 1,
                "series": [{"id": "series-x-0", "points": 3}, {"id": "series-x-1", "points": 4}],
            }
        ]
    }
    assert check.screenshot.startswith(b"\x89PNG\r\n\x1a\n")
    assert check.pixel_stdev > 0


class _Hits(http.server.BaseHTTPRequestHandler):
    paths: list[str] = []  # noqa: RUF012 (one server per test, reset there)

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { background: red; }")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on loopback that records what it is asked for: proof of the abort."""
    _Hits.paths = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hits)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Hits.paths
    finally:
        server.shutdown()
        server.server_close()


def test_external_requests_are_recorded_and_aborted(
    tmp_path: Path, local_server: tuple[str, list[str]]
) -> None:
    base, hits = local_server
    page = write(
        tmp_path,
        f"""<!doctype html><html><head>
<link rel=stylesheet href="https://example.invalid/a.css">
<link rel=stylesheet href="{base}/local.css">
</head><body><img src="http://192.0.2.1/x.png"><img src="sibling.png"></body></html>""",
    )
    (tmp_path / "sibling.png").write_bytes(b"")
    check = load_page(page)
    assert "http://192.0.2.1/x.png" in check.requests
    assert "https://example.invalid/a.css" in check.requests
    assert f"{base}/local.css" in check.requests
    assert (tmp_path / "sibling.png").as_uri() in check.requests  # another file counts too
    # Nothing was fetched. Two guards: the route aborts (net::ERR_FAILED), and the context is
    # offline besides (which alone would give net::ERR_INTERNET_DISCONNECTED).
    assert hits == []
    assert any("ERR_FAILED" in error for error in check.console_errors)


def test_a_console_error_is_caught(tmp_path: Path) -> None:
    check = load_page(write(tmp_path, '<!doctype html><p>x</p><script>console.error("boom")</script>'))
    assert check.console_errors == ["boom"]
    assert check.page_errors == []
    assert check.requests == []


def test_an_uncaught_exception_is_caught(tmp_path: Path) -> None:
    check = load_page(write(tmp_path, '<!doctype html><p>x</p><script>throw new Error("kaput")</script>'))
    assert check.page_errors == ["kaput"]
    assert check.console_errors == []


def test_a_blank_page_has_no_pixel_variance(tmp_path: Path) -> None:
    check = load_page(write(tmp_path, "<!doctype html><html><body style='background:#fff'></body></html>"))
    assert check.pixel_stdev == 0.0
    assert check.dom == {"charts": []}
    assert check.requests == [] and check.console_errors == [] and check.page_errors == []


@pytest.mark.parametrize(
    "script",
    [
        # Never finishes loading: Playwright's own goto() timeout.
        "for (;;) {}",
        # Loads, then hangs the DOM query (evaluate() has no timeout): only the watchdog ends it.
        "Element.prototype.getAttribute = function () { for (;;) {} };",
    ],
    ids=["while-loading", "while-evaluated"],
)
def test_a_page_that_hangs_is_given_up_on(tmp_path: Path, script: str) -> None:
    page = write(tmp_path, f'<!doctype html><figure class="chart"></figure><script>{script}</script>')
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        load_page(page, timeout_s=2.0)
    assert time.monotonic() - started < 15
