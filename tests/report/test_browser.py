"""The report as a user sees it: headless Chromium (Debian's package, installed by
`make install`) loads the report from a file:// URL, driven over the Chrome DevTools Protocol
on 127.0.0.1. No console error, every section heading, every figure rendered with a non-zero
size, the summary flags the bias built into the data; a full-page screenshot is kept."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from bold_spark.report.render import SECTIONS
from tests.report.conftest import BIASED_SEX

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs/img/report.png"


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    pytest.fail("Chromium not found: `make install` installs Debian's chromium package "
                "(apt-get install chromium)")


class DevTools:
    """A minimal CDP client over one page's WebSocket: commands, and the events seen."""

    def __init__(self, url: str):
        import websocket

        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            for e in self.events:
                if e.get("method") == method:
                    return e
            self.events.append(json.loads(self.ws.recv()))
        raise AssertionError(f"no {method} within {timeout}s")

    def evaluate(self, expression: str):
        res = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                        awaitPromise=True)
        assert "exceptionDetails" not in res, res
        return res["result"]["value"]


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium with a temporary profile and DevTools on 127.0.0.1 (port chosen by
    Chromium, read from the profile's DevToolsActivePort); stopped by its PID."""
    import urllib.request

    profile = tempfile.mkdtemp(prefix="bold-chromium-")
    proc = subprocess.Popen(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
         f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0", "--window-size=1200,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        t0 = time.monotonic()
        while not port_file.is_file() or not port_file.read_text().strip():
            if proc.poll() is not None or time.monotonic() - t0 > 60:
                raise AssertionError("Chromium did not start: " + proc.stderr.read().decode()[-2000:])
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(p for p in pages if p["type"] == "page")
        yield DevTools(page["webSocketDebuggerUrl"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def page(browser, reported):
    """The report loaded in the browser, with the console errors seen while loading."""
    _, path, data, _ = reported
    for domain in ("Page", "Runtime", "Log"):
        browser.send(f"{domain}.enable")
    browser.send("Page.navigate", url=path.resolve().as_uri())
    browser.wait_for("Page.loadEventFired")
    errors = [e for e in browser.events if
              (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
              or e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    return browser, data, errors


def test_page_loads_without_console_errors(page):
    browser, _, errors = page
    assert browser.evaluate("document.readyState") == "complete"
    assert browser.evaluate("location.protocol") == "file:"
    assert errors == []


def test_every_section_heading_is_shown(page):
    browser, _, _ = page
    headings = browser.evaluate(
        "[...document.querySelectorAll('section > h2')].map(h => [h.parentElement.id, h.innerText,"
        " h.getBoundingClientRect().height])")
    assert [(a, h) for a, h, _ in headings] == list(SECTIONS)
    assert all(height > 0 for _, _, height in headings)


def test_every_chart_is_rendered(page):
    browser, data, _ = page
    charts = browser.evaluate(
        "[...document.querySelectorAll('img.chart')].map(i => {const r = i.getBoundingClientRect();"
        " return [i.id, i.complete, i.naturalWidth, r.width, r.height];})")
    assert sorted(c[0] for c in charts) == sorted(f"fig-{n}" for n in data.charts)
    for name, complete, natural, width, height in charts:
        assert complete and natural > 0, f"{name} not decoded"
        assert width > 0 and height > 0, f"{name} has no size on the page"


def test_summary_flags_the_bias_gap(page):
    browser, _, _ = page
    flags = browser.evaluate("document.getElementById('bias-flags').innerText")
    assert "Bias gaps flagged" in flags
    assert f"sex = {BIASED_SEX}: share of true links found" in flags
    visible = browser.evaluate("(() => {const r = document.getElementById('bias-flags')"
                               ".getBoundingClientRect(); return r.top < innerHeight && r.height > 0;})()")
    assert visible, "the flags are in the first screen"


def test_screenshot(page, tmp_path):
    """A full-page screenshot: kept in the test's temp folder and as docs/img/report.png."""
    browser, _, _ = page
    metrics = browser.send("Page.getLayoutMetrics")["cssContentSize"]
    shot = browser.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                        clip={"x": 0, "y": 0, "width": metrics["width"],
                              "height": min(metrics["height"], 2200), "scale": 1})
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    (tmp_path / "report.png").write_bytes(png)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(png)
    print(f"screenshot: {tmp_path / 'report.png'} and {SCREENSHOT}")
