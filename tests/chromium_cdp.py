"""Open a page in headless Chromium as a reader would, over the DevTools protocol, with the
standard library only (no selenium, no websockets): Chromium's `--remote-debugging-pipe` reads
JSON commands from fd 3 and writes replies and events to fd 4, each message ended by a NUL.

`Browser` starts Chromium, opens one tab and drives it (`call`, `evaluate`, `click`,
`screenshot`); every wait is bounded. `find_chromium` names the binary (XLSER_CHROMIUM, then
Debian's `chromium`, then the usual other names) or None.

Run as a script it writes the README gallery's picture of the report (the top of the page,
scaled down):

    python tests/chromium_cdp.py results/report/index.html docs/gallery/report.png
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
WAIT_S = 60.0


def find_chromium() -> str | None:
    for name in (os.environ.get("XLSER_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class Browser:
    """One headless Chromium with one tab, driven over the DevTools pipe.

    Events arrive in `events` (method, params) as they are read; console errors and uncaught
    exceptions are among them (`console_errors`)."""

    def __init__(self, binary: str, width: int = 1280, height: int = 900):
        self.profile = tempfile.TemporaryDirectory(prefix="xlser-chromium-")
        to_chrome, self._w = os.pipe()  # chromium reads commands on fd 3
        self._r, from_chrome = os.pipe()  # and writes replies on fd 4

        def fds() -> None:  # in the child: the two pipe ends as fds 3 and 4, whatever their numbers
            a, b = fcntl.fcntl(to_chrome, fcntl.F_DUPFD, 10), fcntl.fcntl(from_chrome, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [binary, *FLAGS, f"--user-data-dir={self.profile.name}", f"--window-size={width},{height}"]
        self._log = Path(self.profile.name) / "chromium.log"  # a file: a full pipe would stall chromium
        with self._log.open("wb") as log:
            self.proc = subprocess.Popen(args, preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=log)
        os.close(to_chrome)
        os.close(from_chrome)
        self._buf = b""
        self._id = 0
        self.events: list[tuple[str, dict]] = []
        target = self.call("Target.createTarget", url="about:blank", session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True, session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    # ---- the protocol

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no reply from chromium within {WAIT_S:.0f} s")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                err = self._log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"chromium closed the DevTools pipe (exit {self.proc.poll()}): {err}")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, session: bool = True, **params: Any) -> dict:
        """Send one command and wait for its reply; events read meanwhile go to `events`."""
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + WAIT_S
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append((reply["method"], reply.get("params", {})))

    def wait_event(self, method: str) -> dict:
        """The first `method` event, already read or to come."""
        deadline = time.monotonic() + WAIT_S
        while True:
            for m, p in self.events:
                if m == method:
                    return p
            msg = self._read(deadline)
            if "method" in msg:
                self.events.append((msg["method"], msg.get("params", {})))

    # ---- what a reader does

    def open(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        res = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression[:80]}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def click(self, x: float, y: float) -> None:
        """A left click with the mouse at viewport position (x, y)."""
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def console_errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries seen since the page opened."""
        out = []
        for method, p in self.events:
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                out.append(str(p.get("exceptionDetails", {}).get("text", p)))
            elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(str(p["entry"].get("text", p)))
        return out

    def screenshot(self, path: str | Path, full_page: bool = True, scale: float = 1.0) -> Path:
        """A PNG of the whole page (or the viewport), at `scale`."""
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics["cssContentSize"] if full_page else metrics["cssLayoutViewport"]
        width, height = size.get("width", size.get("clientWidth")), size.get("height", size.get("clientHeight"))
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": scale}
        self.evaluate("window.scrollTo(0, 0)")
        data = self.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=full_page)["data"]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close", session=False)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)
        for fd in (self._r, self._w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = find_chromium()
    if binary is None:
        print("chromium not found (set XLSER_CHROMIUM or install Debian's chromium)", file=sys.stderr)
        return 1
    with Browser(binary, width=1280, height=860) as b:
        b.open(Path(argv[0]).resolve().as_uri())
        b.screenshot(argv[1], full_page=False, scale=0.6)
    print(f"wrote {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
