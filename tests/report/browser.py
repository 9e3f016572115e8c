"""Loading an HTML report in headless Chromium for tests: what it fetched, logged and drew.

tcpq's reports are meant to be self-contained (inline SVG, no scripts, fonts or URLs), so a
test loads one with every request other than the file itself aborted, and looks at what is
left: the requests it tried, its console and uncaught errors, a full-page screenshot (and
whether it is blank) and the charts' DOM. The browser is Debian's `chromium-headless-shell`
driven by Playwright (never `playwright install`: no downloads); tests that need it use
`needs_chromium`, which skips where either is missing.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Error, Request, Route

# Debian's binaries, the real ones before their /usr/bin wrappers: /usr/bin/chromium-headless-shell
# is a `sh -e` script that does not exec, so the pid Chromium reports would not be its child.
_CANDIDATES = (
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/bin/chromium-headless-shell",
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium",
)

TIMEOUT_S = 30.0
VIEWPORT_WIDTH, VIEWPORT_HEIGHT = 1280, 720


def chromium_path() -> str | None:
    """Debian's headless Chromium (or the full `chromium`), else None."""
    for candidate in _CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    for name in ("chromium-headless-shell", "chromium"):
        found = shutil.which(name)
        if found is not None:
            return found
    return None


def playwright_available() -> bool:
    return find_spec("playwright") is not None


needs_chromium = pytest.mark.skipif(
    chromium_path() is None or not playwright_available(),
    reason="needs Debian chromium-headless-shell and playwright (CI installs both)",
)


@dataclass
class PageCheck:
    requests: list[str]  # every URL the page asked for besides the file itself (all aborted)
    console_errors: list[str]  # console messages of type 'error' (Chromium logs failed loads too)
    page_errors: list[str]  # uncaught exceptions
    screenshot: bytes  # full page, PNG
    pixel_stdev: float  # of the screenshot's RGB values in [0, 1]: 0.0 for a blank page
    dom: dict[str, Any]  # {"charts": [{"id", "data_series", "svgs", "series": [{"id", "points"}]}]}


# For every figure.chart: its id, data-series (a string, or null), how many <svg> it holds, and
# for each element inside whose id starts with "series-", the points of its first path (the
# element itself when it is one): matplotlib writes "M x y L x y ...", one M or L per point.
_DOM_JS = """
() => ({
  charts: Array.from(document.querySelectorAll("figure.chart"), (figure) => ({
    id: figure.id,
    data_series: figure.getAttribute("data-series"),
    svgs: figure.querySelectorAll("svg").length,
    series: Array.from(figure.querySelectorAll('[id^="series-"]'), (element) => {
      const path = element.tagName.toLowerCase() === "path" ? element : element.querySelector("path");
      const d = path === null ? "" : (path.getAttribute("d") || "");
      return { id: element.id, points: (d.match(/[MLml]/g) || []).length };
    }),
  })),
})
"""


def pixel_stdev(png: bytes) -> float:
    """Standard deviation of a PNG's RGB values (alpha left out: it is constant on a page)."""
    import matplotlib.image

    pixels = np.asarray(matplotlib.image.imread(io.BytesIO(png), format="png"), dtype=np.float64)
    return float(np.std(pixels[..., :3]))


def _browser_pid(browser: Browser) -> int | None:
    """The browser process's pid, asked of Chromium itself (Playwright does not expose it)."""
    try:
        session = browser.new_browser_cdp_session()
        info = session.send("SystemInfo.getProcessInfo")
        session.detach()
    except Exception:
        return None
    for process in info.get("processInfo", []):
        if process.get("type") == "browser":
            return int(process["id"])
    return None


def load_page(path: Path, timeout_s: float = TIMEOUT_S) -> PageCheck:
    """Load PATH (a local HTML file) offline in headless Chromium and report what it did.

    Every request but the file's own is recorded and aborted, so nothing leaves the machine.
    The whole call is bounded by TIMEOUT_S: Playwright's own timeouts cover launching, loading
    and the screenshot; a watchdog kills the browser if anything else (a page stuck in a script
    while it is evaluated) outlasts it, and the call then raises TimeoutError.
    """
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no Chromium: install Debian's chromium-headless-shell")
    own_url = path.resolve().as_uri()
    deadline = time.monotonic() + timeout_s

    def remaining_ms() -> float:
        return max(1.0, (deadline - time.monotonic()) * 1000.0)

    requests: list[str] = []
    console_errors: list[str] = []
    page_errors: list[str] = []

    def on_request(request: Request) -> None:
        if request.url != own_url:
            requests.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    def on_page_error(error: Error) -> None:
        page_errors.append(error.message)

    def route(route: Route) -> None:
        if route.request.url == own_url:
            route.continue_()
        else:
            route.abort()

    killed = threading.Event()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox"],  # root (CI) cannot use Chromium's sandbox
            timeout=remaining_ms(),
        )
        watchdog: threading.Timer | None = None
        try:
            pid = _browser_pid(browser)
            if pid is not None:

                def kill() -> None:
                    killed.set()
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)

                watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), kill)
                watchdog.daemon = True
                watchdog.start()
            context = browser.new_context(
                offline=True,
                viewport={"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT},
                device_scale_factor=1,
            )
            context.route("**/*", route)
            page = context.new_page()
            page.set_default_timeout(remaining_ms())
            page.on("request", on_request)
            page.on("console", on_console)
            page.on("pageerror", on_page_error)
            page.goto(own_url, wait_until="load", timeout=remaining_ms())
            dom: dict[str, Any] = page.evaluate(_DOM_JS)
            screenshot = page.screenshot(full_page=True, type="png", timeout=remaining_ms())
        except Exception as error:
            if killed.is_set() or time.monotonic() >= deadline:
                raise TimeoutError(f"loading {path} took over {timeout_s:g} s") from error
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
            with contextlib.suppress(Exception):
                browser.close()
    return PageCheck(
        requests=requests,
        console_errors=console_errors,
        page_errors=page_errors,
        screenshot=screenshot,
        pixel_stdev=pixel_stdev(screenshot),
        dom=dom,
    )
