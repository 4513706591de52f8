"""Send a media file as a live MPEG-TS stream, paced at its own clock: the network camera of the
live tests and ``benchmarks/bench_live.py``.

``python -m affect_tf.testing.stream_sender CLIP udp://127.0.0.1:PORT`` remuxes the clip's
packets (no re-encoding; MPEG-1/2 video and MP2 audio, as the GRID clips have, fit MPEG-TS)
with PyAV, the FFmpeg inside it, and sends each when its time has come.
"""
from __future__ import annotations

import argparse
import sys
import time

import av


def send(clip: str, url: str, fmt: str = "mpegts", loops: int = 1) -> int:
    """Remux ``clip`` to ``url`` at real time; returns the number of video packets sent."""
    sent = 0
    with av.open(url, mode="w", format=fmt) as out:
        with av.open(clip) as src:
            streams = [s for s in (src.streams.video[:1] + src.streams.audio[:1])]
            mapping = {s.index: out.add_stream_from_template(s) for s in streams}
        offset, last_dts = 0.0, {}
        for _ in range(loops):
            with av.open(clip) as src:
                streams = [s for s in (src.streams.video[:1] + src.streams.audio[:1])]
                started, last = time.monotonic(), 0.0
                for packet in src.demux(streams):
                    if packet.dts is None:
                        continue
                    at = float(packet.dts * packet.time_base)
                    time.sleep(max(0.0, started + at - time.monotonic()))
                    last = max(last, at)
                    shift = int(round(offset / packet.time_base))
                    packet.pts = None if packet.pts is None else packet.pts + shift
                    packet.dts += shift
                    packet.stream = mapping[packet.stream.index]
                    # clips may repeat a DTS (GRID's first two video packets are both 0): one that
                    # the muxer let pass on the first loop is refused once shifted, so keep them rising
                    previous = last_dts.get(packet.stream.index)
                    if previous is not None and packet.dts <= previous:
                        packet.dts = previous + 1
                        if packet.pts is not None and packet.pts < packet.dts:
                            packet.pts = packet.dts
                    last_dts[packet.stream.index] = packet.dts
                    out.mux(packet)
                    sent += packet.stream.type == "video"
                offset += last + 0.04
    return sent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip")
    parser.add_argument("url", help="e.g. udp://127.0.0.1:5000?pkt_size=1316")
    parser.add_argument("--loops", type=int, default=1)
    args = parser.parse_args(argv)
    print(send(args.clip, args.url, loops=args.loops), "video packets sent", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
