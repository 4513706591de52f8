"""A real headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
JSON messages ending in NUL on file descriptors 3 and 4), stdlib only: open a page, wait, screenshot."""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time


def chromium() -> str | None:
    """The browser binary (Debian's /usr/bin/chromium is a shell wrapper that loses fds 3 and 4)."""
    real = "/usr/lib/chromium/chromium"
    return real if os.access(real, os.X_OK) else shutil.which("chromium") or shutil.which("chromium-browser")


def _as_fds_3_and_4(read_end, write_end):
    """In the child: the pipe ends as fds 3 and 4, kept open across exec (copied first, as
    either may already be 3 or 4, where dup2 would leave it close-on-exec)."""
    read_copy, write_copy = os.dup(read_end), os.dup(write_end)
    os.dup2(read_copy, 3)
    os.dup2(write_copy, 4)


class HeadlessChromium:
    def __init__(self, width=760, height=560):
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        self.process = subprocess.Popen(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--remote-debugging-pipe", f"--user-data-dir={self.profile}", "--no-first-run",
             f"--window-size={width},{height}", "about:blank"],
            close_fds=False, stdin=subprocess.DEVNULL,  # the pipes become its fds 3 and 4:
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=lambda: _as_fds_3_and_4(to_browser_r, from_browser_w))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._out, self._in = to_browser_w, os.fdopen(from_browser_r, "rb")
        self._next_id, self._buffer = 0, b""

    def call(self, method, params=None, session=None, timeout=30.0):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\0" not in self._buffer:
                chunk = os.read(self._in.fileno(), 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
        raise TimeoutError(method)

    def screenshot_after(self, url, seconds) -> bytes:
        """PNG of ``url`` after it has been open ``seconds`` (real time: the page streams)."""
        target = self.call("Target.createTarget", {"url": url})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        time.sleep(seconds)
        return base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"}, self.session)["data"])

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page opened last."""
        reply = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, self.session)
        return reply["result"].get("value")

    def close(self):
        self.process.kill()
        self.process.wait()
        os.close(self._out)
        self._in.close()
        shutil.rmtree(self.profile, ignore_errors=True)
