"""``affect-tf live`` on real streams: a clip sent over loopback UDP by a sender process, the
sender killed mid-way (reconnect, gap marked), an HLS playlist over loopback HTTP, SIGTERM, and
bad sources."""
from __future__ import annotations

import functools
import http.server
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from affect_tf.cli import main
from affect_tf.inference import load_model
from affect_tf.live import run_live
from tests.live.conftest import fast_media_config, max_abs_diff, split_clip

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Lines(io.StringIO):
    """A text stream other threads can poll while the live loop writes to it."""

    def lines(self):
        return self.getvalue().splitlines()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _udp_port_taken(port) -> bool:
    """True while someone (the live receiver) has ``port`` bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _wait(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _send(clip, port, loops=1):
    return subprocess.Popen([sys.executable, "-m", "affect_tf.testing.stream_sender", str(clip),
                             f"udp://127.0.0.1:{port}?pkt_size=1316", "--loops", str(loops)],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": REPO},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_udp_stream_is_predicted_and_a_killed_sender_is_reopened_with_the_gap_marked(shared_data, stream_export):
    clip = shared_data / "video" / "bbaf2n.mpg"  # 75 frames, one speaker throughout
    port = _free_udp_port()
    model = load_model(stream_export, warn=None)
    out, log, result = Lines(), Lines(), {}
    receiver = threading.Thread(target=lambda: result.update(run_live(
        f"udp://127.0.0.1:{port}", model, out, read_timeout=1.0, reconnect_s=3.0, progress=log,
        media_config=fast_media_config())))
    receiver.start()
    senders = []
    try:
        _wait(lambda: _udp_port_taken(port), 30, "the receiver to listen")
        senders.append(_send(clip, port, loops=4))  # 12 s of stream
        _wait(lambda: len(out.lines()) >= 20, 30, "rows from the first sender")
        assert senders[0].poll() is None, senders[0].communicate()[1][-2000:]
        senders[0].kill()  # the camera goes away mid-stream
        senders[0].wait()
        _wait(lambda: "reopening" in log.getvalue(), 15, "the receiver to notice the stall")
        _wait(lambda: _udp_port_taken(port), 15, "the receiver to listen again")
        senders.append(_send(clip, port))  # ... and comes back: the whole clip this time
        assert senders[1].wait(timeout=60) == 0
        receiver.join(timeout=60)
    finally:
        for sender in senders:
            sender.kill()
    assert not receiver.is_alive()
    rows = [json.loads(line) for line in out.lines()]
    assert [r["frame"] for r in rows] == list(range(len(rows)))
    gaps = [i for i, r in enumerate(rows) if r["gap_s"] is not None]
    assert result["reconnects"] == 1 and len(gaps) == 1, (result, gaps)
    before, after = rows[:gaps[0]], rows[gaps[0]:]
    assert 20 <= len(before) < 4 * 75 - 25  # stopped at least a second before its end
    assert len(after) >= 70, len(after)  # the second send's frames (a lost first GOP at most)
    assert after[0]["gap_s"] >= 1.0  # at least the read timeout without frames
    assert after[0]["time_s"] >= before[-1]["time_s"] + 1.0  # time goes on over the gap
    for part in (before, after):
        with_face = [r for r in part if r["face_present"]]
        assert len(with_face) >= 0.9 * len(part)
        assert all(-1 <= r["valence"] <= 1 and -1 <= r["arousal"] <= 1 for r in with_face)
    print(f"udp: {len(before)} rows, gap {after[0]['gap_s']} s, {len(after)} rows; "
          f"latency p50 {sorted(r['latency_ms'] for r in rows)[len(rows) // 2]} ms")


def test_sigterm_ends_the_run_with_every_computed_row_written(shared_data, stream_export, tmp_path, capsys):
    clip = shared_data / "video" / "bbaf2n.mpg"
    out = tmp_path / "live.jsonl"

    def terminate_after_some_rows():
        _wait(lambda: out.is_file() and len(out.read_text().splitlines()) >= 10, 60, "rows")
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_after_some_rows, daemon=True)
    killer.start()
    code = main(["live", str(clip), "--model", str(stream_export), "--realtime", "--chunk-frames", "4",
                 "--median-window", "5", "--out", str(out)])
    killer.join(timeout=5)
    assert code == 0
    assert "(stopped)" in capsys.readouterr().err
    rows = [json.loads(line) for line in out.read_text().splitlines()]  # every line whole
    assert 10 <= len(rows) < 75  # stopped mid-clip (paced at 25 fps: 3 s)
    assert [r["frame"] for r in rows] == list(range(len(rows)))
    # the frames decoded before the stop were predicted and their median released, none lost
    assert all(r["valence"] is not None for r in rows if r["face_present"])


@pytest.mark.parametrize("source, audio, problem", [
    ("no/such/clip.mp4", None, "no/such/clip.mp4: no such file (nor a URL, a capture device or -)"),
    ("rtsp://127.0.0.1:9/none", None, "rtsp://127.0.0.1:9/none: cannot be opened ("),
    ("CLIP", "no/such/sound.wav", "no/such/sound.wav: no such file"),
    ("CLIP", "CLIP_WITHOUT_SOUND", "CLIP_WITHOUT_SOUND: no audio stream"),
])
def test_a_bad_source_is_one_line(stream_export, shared_data, tmp_path, capsys, source, audio, problem):
    names = {"CLIP": str(shared_data / "video" / "bbaf2n.mpg"), "CLIP_WITHOUT_SOUND": str(tmp_path / "mute.mpg")}
    if audio == "CLIP_WITHOUT_SOUND":
        split_clip(names["CLIP"], picture=names[audio])
    source, problem = names.get(source, source), problem.replace("CLIP_WITHOUT_SOUND", names["CLIP_WITHOUT_SOUND"])
    assert main(["live", source, "--model", str(stream_export), *(["--audio", names.get(audio, audio)] if audio else [])]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"affect-tf live: {problem}") and "\n" not in err, err


def test_audio_for_a_model_that_reads_no_sound_is_said_once_and_the_rows_come(shared_data, stream_export, tmp_path, capsys):
    clip, out = shared_data / "video" / "bbaf2n.mpg", tmp_path / "live.jsonl"
    assert main(["live", str(clip), "--model", str(stream_export), "--audio", str(clip), "--max-frames", "5",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count(f"--audio {clip} is not used") == 1, err
    assert len(out.read_text().splitlines()) == 5


def test_live_page_in_headless_chromium_shows_frame_box_gauge_and_a_moving_curve(shared_data, stream_export, tmp_path):
    from PIL import Image

    from affect_tf.live_page import LivePage
    from tests.live.browser import HeadlessChromium, chromium

    if chromium() is None:
        pytest.skip("chromium is not installed (make setup installs it with apt-get)")
    import numpy as np

    clip = shared_data / "video" / "lbax4n.mpg"
    model = load_model(stream_export, warn=None)
    page = LivePage().start()
    out, done = Lines(), {}
    runner = threading.Thread(target=lambda: done.update(run_live(
        str(clip), model, out, realtime=True, listeners=[page], progress=None,
        media_config=fast_media_config())))
    runner.start()
    browser = HeadlessChromium()
    try:
        _wait(lambda: len(out.lines()) >= 25, 60, "a second of rows")
        png = browser.screenshot_after(f"http://127.0.0.1:{page.port}/", 2.0)
        boxes = browser.evaluate("JSON.stringify(Object.fromEntries([...document.querySelectorAll('canvas')]"
                                 ".map(c => { const r = c.getBoundingClientRect(); "
                                 "return [c.id, [r.x, r.y, r.x + r.width, r.y + r.height]]; })))")
        status = browser.evaluate("document.getElementById('status').textContent")
    finally:
        browser.close()
        runner.join(timeout=60)
        page.stop()
    (tmp_path / "live_page.png").write_bytes(png)
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    regions = {name: image[int(y0) + 2:int(y1) - 2, int(x0) + 2:int(x1) - 2]
               for name, (x0, y0, x1, y1) in json.loads(boxes).items()}

    def colour(region, rgb, tolerance=60):
        return np.all(np.abs(region - np.array(rgb)) < tolerance, axis=-1)

    frame = regions["frame"]
    assert frame.std() > 30  # a picture, not a blank canvas
    assert colour(frame, (0, 255, 0), 40).sum() > 200  # the face box's outline
    assert colour(regions["gauge"], (255, 0, 255)).sum() > 150  # the valence/arousal dot
    curve = colour(regions["curves"], (0, 0, 255), 90)
    columns, rows = np.nonzero(curve.T)
    assert len(np.unique(columns)) > 100  # the valence curve runs across the plot ...
    assert np.ptp(rows) >= 3  # ... and is not flat
    assert status.startswith("frame ") and "valence" in status
    print(f"screenshot {image.shape[1]}x{image.shape[0]}: {status!r}; box pixels "
          f"{int(colour(frame, (0, 255, 0), 40).sum())}, valence curve over {len(np.unique(columns))} "
          f"columns, {int(np.ptp(rows))} px high")


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_hls_over_http_gives_the_predictions_of_the_file_itself(shared_data, stream_export, tmp_path):
    """An HLS playlist of the clip (MPEG-TS segments of its own packets, no re-encoding) served
    over loopback HTTP, as a web camera or a media server publishes it: the same frames, faces and
    predictions as the file read directly."""
    import av

    clip = shared_data / "video" / "bbaf2n.mpg"
    with av.open(str(clip)) as src, av.open(str(tmp_path / "clip.m3u8"), "w", format="hls",
                                            options={"hls_time": "1", "hls_list_size": "0"}) as out:
        streams = [src.streams.video[0], src.streams.audio[0]]
        mapping = {s.index: out.add_stream_from_template(s) for s in streams}
        for packet in src.demux(streams):
            if packet.dts is not None:
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
    assert len(list(tmp_path.glob("clip*.ts"))) >= 3  # a 3 s clip in 1 s segments
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietFiles, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    model = load_model(stream_export, warn=None)
    runs = {}
    try:
        for name, source in (("hls", f"http://127.0.0.1:{server.server_address[1]}/clip.m3u8"), ("file", str(clip))):
            out = io.StringIO()
            summary = run_live(source, model, out, chunk_frames=7, reconnect_s=0.0, progress=None,
                               media_config=fast_media_config())
            runs[name] = ([json.loads(line) for line in out.getvalue().splitlines()], summary)
    finally:
        server.shutdown()
    (hls, hls_summary), (direct, _) = runs["hls"], runs["file"]
    assert len(hls) == len(direct) == 75 and hls_summary["reconnects"] == 0
    for column in ("time_s", "face_x0", "valence", "arousal"):
        a = [np.nan if r[column] is None else r[column] for r in hls]
        b = [np.nan if r[column] is None else r[column] for r in direct]
        assert max_abs_diff(a, b) <= (1e-4 if column == "time_s" else 1e-5), column
    assert sum(r["face_present"] for r in hls) >= 70
