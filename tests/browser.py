"""A real headless Chromium for page tests, driven over the DevTools protocol on 127.0.0.1.

Debian's `chromium` runs headless with networking extras switched off and a throw-away profile; the
test talks to it over the DevTools websocket (websocket-client), so pages are loaded, laid out,
clicked and photographed by the browser itself. `Chromium.unavailable()` says why it cannot run, so
tests can skip with a visible reason instead of failing on machines without a browser.
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
         "--mute-audio", "--hide-scrollbars", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0")
START_TIMEOUT = 30.0
COMMAND_TIMEOUT = 30.0


class BrowserError(RuntimeError):
    """Chromium could not be started or did not answer as expected."""


def find_chromium() -> str | None:
    """The browser binary: $CHROMIUM, else Debian's chromium on PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Chromium:
    """One headless browser with one page; use as a context manager."""

    def __init__(self, width: int = 1440, height: int = 900, executable: str | None = None):
        self.width, self.height = width, height
        self.executable = executable or find_chromium()
        self.profile: str | None = None
        self.process: subprocess.Popen | None = None
        self.socket = None
        self.events: list[dict] = []
        self._ids = itertools.count(1)

    @staticmethod
    def unavailable() -> str | None:
        """Why no browser test can run here, or None when one can."""
        try:
            import websocket  # noqa: F401  (websocket-client)
        except ImportError:
            return "websocket-client is not installed (pip install websocket-client)"
        if find_chromium() is None:
            if os.environ.get("CHROMIUM"):
                return f"CHROMIUM={os.environ['CHROMIUM']} does not exist"
            return "Debian's chromium is not installed (apt-get install -y chromium)"
        return None

    # ---- life cycle ---------------------------------------------------------------------------------

    def __enter__(self) -> "Chromium":
        import websocket

        if self.executable is None:
            raise BrowserError("chromium not found")
        self.profile = tempfile.mkdtemp(prefix="dtf-chromium-")
        self.process = subprocess.Popen(
            [self.executable, *FLAGS, f"--user-data-dir={self.profile}",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            port = self._devtools_port()
            page = self._page_target(port)
            self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=COMMAND_TIMEOUT,
                                                      suppress_origin=True)
            self.send("Page.enable")
            self.send("Runtime.enable")
            self._viewport(self.height)
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.socket is not None:
            try:
                self.socket.close()
            except OSError:
                pass
            self.socket = None
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            if self.process.stderr:
                self.process.stderr.close()
            self.process = None
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile = None

    def _devtools_port(self) -> int:
        """Chromium writes its chosen port into DevToolsActivePort in the profile once it listens."""
        marker = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode("utf-8", "replace")[-800:]
                raise BrowserError(f"chromium exited with {self.process.returncode}: {error}")
            if marker.exists():
                first = marker.read_text().splitlines()[:1]
                if first and first[0].strip().isdigit():
                    return int(first[0])
            time.sleep(0.05)
        raise BrowserError(f"chromium did not open its DevTools port within {START_TIMEOUT:.0f} s")

    @staticmethod
    def _page_target(port: int) -> dict:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
                pages = [t for t in json.load(answer) if t.get("type") == "page"]
            if pages:
                return pages[0]
            time.sleep(0.05)
        raise BrowserError("chromium shows no page target")

    # ---- protocol -----------------------------------------------------------------------------------

    def send(self, method: str, **params) -> dict:
        """Send one DevTools command and return its result; events that arrive meanwhile are kept."""
        ident = next(self._ids)
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while time.monotonic() < deadline:
            message = json.loads(self.socket.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)
        raise BrowserError(f"{method}: no answer within {COMMAND_TIMEOUT:.0f} s")

    def wait_for(self, event: str, timeout: float = COMMAND_TIMEOUT) -> dict:
        """The first `event` since the last call that consumed events."""
        deadline = time.monotonic() + timeout
        while True:
            for index, message in enumerate(self.events):
                if message["method"] == event:
                    del self.events[:index + 1]
                    return message.get("params", {})
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"no {event} within {timeout:.0f} s")
            self.socket.settimeout(remaining)
            try:
                message = json.loads(self.socket.recv())
            finally:
                self.socket.settimeout(COMMAND_TIMEOUT)
            if "method" in message:
                self.events.append(message)

    # ---- what tests use -----------------------------------------------------------------------------

    def goto(self, url: str) -> None:
        self.events.clear()
        result = self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"navigation to {url} failed: {result['errorText']}")
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression evaluated in the page."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails'].get('text')}: {expression[:120]}")
        return result["result"].get("value")

    def click(self, selector: str, wait_for_load: bool = True) -> None:
        """A real mouse click at the centre of the element, as a user would, then wait for the new page."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            f" e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();"
            f" return [r.left + r.width / 2, r.top + r.height / 2, r.width, r.height]; }})()")
        if not box:
            raise BrowserError(f"nothing on the page matches {selector}")
        x, y, width, height = box
        if width <= 0 or height <= 0:
            raise BrowserError(f"{selector} is not visible")
        self.events.clear()
        self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        self.send("Input.dispatchMouseEvent", type="mousePressed", x=x, y=y, button="left", clickCount=1)
        self.send("Input.dispatchMouseEvent", type="mouseReleased", x=x, y=y, button="left", clickCount=1)
        if wait_for_load:
            self.wait_for("Page.loadEventFired")

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        """A PNG of the page as laid out at the configured width (whole page height when full_page)."""
        height = self.height
        if full_page:
            metrics = self.send("Page.getLayoutMetrics")
            height = max(self.height, int(metrics["cssContentSize"]["height"]))
            self._viewport(height)
        try:
            data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=False)["data"]
        finally:
            if full_page:
                self._viewport(self.height)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def _viewport(self, height: int) -> None:
        self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=height, deviceScaleFactor=1,
                  mobile=False)
