"""The ``affect-tf live --http PORT`` page: the current frame with the face box, a valence/arousal
gauge (the circumplex: valence across, arousal up) and the last minute's curves, updated as rows
come through server-sent events. One self-contained page (no external scripts, styles or fonts),
served from this process on loopback by the standard library's HTTP server.

``GET /`` the page; ``GET /events`` the rows as ``text/event-stream`` (the last minute first,
then each new one); ``GET /frame.jpg`` the latest frame (encoded when asked, so a slow browser
costs the stream nothing).
"""
from __future__ import annotations

import collections
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HISTORY_S = 60.0

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>affect-tf live</title>
<style>
body{font-family:sans-serif;margin:12px;background:#fff;color:#222}
#row{display:flex;gap:16px;align-items:flex-start}
canvas{border:1px solid #bbb}
#status{margin:6px 0;font-size:14px}
</style></head>
<body>
<div id="status">waiting for frames...</div>
<div id="row">
<canvas id="frame" width="360" height="270"></canvas>
<canvas id="gauge" width="270" height="270"></canvas>
</div>
<canvas id="curves" width="646" height="160"></canvas>
<script>
const HISTORY = __HISTORY__;
const rows = [];
const frameCanvas = document.getElementById("frame"), gauge = document.getElementById("gauge"),
      curves = document.getElementById("curves"), status = document.getElementById("status");
let latest = null, loading = false;
const image = new Image();
image.onload = () => { loading = false; drawFrame(); };
image.onerror = () => { loading = false; };
function drawFrame() {
  const g = frameCanvas.getContext("2d");
  if (!image.width) return;
  const s = Math.min(frameCanvas.width / image.width, frameCanvas.height / image.height);
  g.fillStyle = "#000"; g.fillRect(0, 0, frameCanvas.width, frameCanvas.height);
  g.drawImage(image, 0, 0, image.width * s, image.height * s);
  const r = image.row;
  if (r && r.face_present) {
    g.strokeStyle = "rgb(0,255,0)"; g.lineWidth = 3;
    g.strokeRect(r.face_x0 * s, r.face_y0 * s, (r.face_x1 - r.face_x0) * s, (r.face_y1 - r.face_y0) * s);
  }
}
function drawGauge(r) {
  const g = gauge.getContext("2d"), w = gauge.width, h = gauge.height, c = w / 2, rad = w / 2 - 12;
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#888"; g.lineWidth = 1;
  g.beginPath(); g.arc(c, c, rad, 0, 2 * Math.PI); g.stroke();
  g.beginPath(); g.moveTo(c - rad, c); g.lineTo(c + rad, c); g.moveTo(c, c - rad); g.lineTo(c, c + rad); g.stroke();
  g.fillStyle = "#444"; g.font = "12px sans-serif";
  g.fillText("valence", w - 56, c - 4); g.fillText("arousal", c + 4, 12);
  if (r && r.valence !== null) {
    g.fillStyle = "rgb(255,0,255)";
    g.beginPath(); g.arc(c + r.valence * rad, c - r.arousal * rad, 9, 0, 2 * Math.PI); g.fill();
  }
}
function drawCurves() {
  const g = curves.getContext("2d"), w = curves.width, h = curves.height;
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#ccc"; g.lineWidth = 1;
  g.beginPath(); g.moveTo(0, h / 2); g.lineTo(w, h / 2); g.stroke();
  if (!rows.length) return;
  // the last minute; until a minute has passed, what there is, over the whole width
  const end = rows[rows.length - 1].time_s, span = Math.max(5, Math.min(HISTORY, end - rows[0].time_s));
  for (const [key, colour] of [["valence", "rgb(0,0,255)"], ["arousal", "rgb(255,0,0)"]]) {
    g.strokeStyle = colour; g.lineWidth = 2; g.beginPath();
    let pen = false;
    for (const r of rows) {
      if (r[key] === null) { pen = false; continue; }
      const x = w - (end - r.time_s) / span * w, y = h / 2 - r[key] * (h / 2 - 4);
      if (pen) g.lineTo(x, y); else g.moveTo(x, y);
      pen = true;
    }
    g.stroke();
  }
}
const events = new EventSource("/events");
events.onmessage = (e) => {
  const r = JSON.parse(e.data);
  rows.push(r);
  while (rows.length && rows[rows.length - 1].time_s - rows[0].time_s > HISTORY) rows.shift();
  latest = r;
  status.textContent = `frame ${r.frame}  t=${r.time_s.toFixed(2)} s  valence ${r.valence === null ? "-" : r.valence.toFixed(3)}` +
    `  arousal ${r.arousal === null ? "-" : r.arousal.toFixed(3)}  latency ${r.latency_ms} ms`;
};
setInterval(() => {
  if (!latest) return;
  drawGauge(latest); drawCurves();
  if (!loading) { loading = true; image.row = latest; image.src = "/frame.jpg?n=" + latest.frame; }
}, 100);
drawGauge(null);
</script></body></html>
"""


class LivePage:
    """The page's server and the state it shows; a :func:`affect_tf.live.run_live` listener
    (called with each written row, and ``frame(row, image)`` with each decoded frame)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, history_s: float = HISTORY_S):
        self.history_s = history_s
        self.rows = collections.deque()
        self._image = None
        self._frames = {}  # frame number -> image, for frames whose row is not out yet
        self._changed = threading.Condition()
        self._closing = False
        page = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # the command prints its own lines, not an access log
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                if path == "/":
                    body = PAGE.replace("__HISTORY__", str(float(page.history_s))).encode()
                    self._send(200, "text/html; charset=utf-8", body)
                elif path == "/frame.jpg":
                    body = page.frame_jpeg()
                    self._send(200 if body else 404, "image/jpeg", body or b"")
                elif path == "/events":
                    page.stream_events(self)
                else:
                    self._send(404, "text/plain", b"not found")

            def _send(self, code, kind, body):
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def start(self) -> "LivePage":
        threading.Thread(target=self.server.serve_forever, name="live-page", daemon=True).start()
        return self

    def stop(self):
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # -- listener -------------------------------------------------------------------------------
    def frame(self, row, image):
        """A decoded frame; shown once its row is written (the box and values belong to it)."""
        self._frames[row["frame"]] = image
        while len(self._frames) > 200:  # rows held back by the median lag or a slow model
            self._frames.pop(next(iter(self._frames)))

    def __call__(self, row):
        with self._changed:
            self._image = (self._frames.pop(row["frame"], None), row) if row["frame"] in self._frames \
                else self._image
            for older in [n for n in self._frames if n < row["frame"]]:
                del self._frames[older]
            self.rows.append(row)
            while self.rows and row["time_s"] - self.rows[0]["time_s"] > self.history_s:
                self.rows.popleft()
            self._changed.notify_all()

    # -- server side ----------------------------------------------------------------------------
    def frame_jpeg(self):
        from PIL import Image

        latest = self._image
        if latest is None or latest[0] is None:
            return None
        buf = io.BytesIO()
        Image.fromarray(latest[0]).save(buf, format="JPEG", quality=80)
        return buf.getvalue()

    def stream_events(self, handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-store")
        handler.end_headers()
        with self._changed:
            pending = list(self.rows)
        sent = pending[-1]["frame"] if pending else -1
        try:
            while True:
                for row in pending:
                    handler.wfile.write(f"data: {json.dumps(_public(row))}\n\n".encode())
                handler.wfile.flush()
                with self._changed:
                    self._changed.wait_for(lambda: self._closing or (self.rows and self.rows[-1]["frame"] > sent),
                                           timeout=15)
                    if self._closing:
                        return
                    pending = [r for r in self.rows if r["frame"] > sent]
                if pending:
                    sent = pending[-1]["frame"]
                else:
                    handler.wfile.write(b": keep-alive\n\n")
        except (BrokenPipeError, ConnectionResetError):
            return


def _public(row) -> dict:
    return {k: v for k, v in row.items() if not k.startswith("_")}
