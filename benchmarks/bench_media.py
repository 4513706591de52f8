"""Media preprocessing benchmark (run on demand; not collected by pytest).

    python -m benchmarks.bench_media [--data ../shared/data] [--long-seconds 600] [--skip-memory]

1. Frames per second per core, end to end (decode + detect/track + 68 landmarks + alignment +
   mel window + eGeMAPS), on the GRID clips with tracking (detect every k frames) and with
   detection on every frame, in the same run. "Per core" = frames / CPU seconds of this process
   (BLAS and decoder threads pinned to 1), which is what a Beam worker process gets per core and
   stays meaningful on a shared machine; wall-clock fps is printed beside it.
2. The in-the-wild clip (``video/short_hamilton_clip.mp4``: a stage performance with profiles,
   small faces and cuts to the audience): frames/s per core and the share of frames with a face
   for each detector setting (``hog``, ``hog+mtcnn`` (default), ``mtcnn``).
3. Peak resident memory of a process that runs the pipeline over a 10 s video and over a long
   one (default 10 min), both synthesised by looping a GRID clip's frames and audio through PyAV.
"""
from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import pathlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

GRID = ["bbaf2n.mpg", "lbax4n.mpg", "swiz3n.mpg"]
WILD = "short_hamilton_clip.mp4"
WILD_DETECTORS = ("hog", "hog+mtcnn", "mtcnn")
REPO = pathlib.Path(__file__).resolve().parents[1]


def throughput(data: pathlib.Path, detect_every: int, repeats: int = 2) -> dict:
    from affect_tf.media import FacePipeline, MediaConfig

    pipe = FacePipeline(MediaConfig(detect_every=detect_every))
    list(pipe.process_video(data / "video" / GRID[0]))  # warm-up: imports, numba, openSMILE
    frames, detections = 0, 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(repeats):
        for name in GRID:
            for item in pipe.process_video(data / "video" / name):
                frames += 1
                faces = item.face_present
            detections += pipe.tracker.detections
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"detect_every": detect_every, "frames": frames, "detections": detections,
            "fps_per_core": frames / cpu, "fps_wall": frames / wall, "last_face": bool(faces)}


def in_the_wild(data: pathlib.Path, detector: str) -> dict:
    from affect_tf.media import FacePipeline, MediaConfig

    pipe = FacePipeline(MediaConfig(detector=detector))
    list(pipe.process_video(data / "video" / GRID[0]))  # warm-up (imports TensorFlow for MTCNN)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    items = list(pipe.process_video(data / "video" / WILD))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    found = sum(i.face_present for i in items)
    return {"detector": detector, "frames": len(items), "face_found_rate": found / len(items),
            "aligned_on_detector_points": sum(i.face_present and not i.landmarks_fitted for i in items),
            "detections": pipe.tracker.detections, "mtcnn_runs": pipe.tracker.pose_detections,
            "fps_per_core": len(items) / cpu, "fps_wall": len(items) / wall}


def synthesise(source: pathlib.Path, out: pathlib.Path, seconds: float):
    """Loop ``source``'s frames and audio into an H.264/AAC mp4 of ``seconds``."""
    import av
    import numpy as np

    from affect_tf.media.encode import write_video

    with av.open(str(source)) as src:
        frames = [f.to_ndarray(format="rgb24") for f in src.decode(video=0)]
    with av.open(str(source)) as src:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=44100)
        audio = np.concatenate([o.to_ndarray().reshape(-1) for f in src.decode(audio=0)
                                for o in resampler.resample(f)])
    fps, rate = 25, 44100
    n_frames = int(seconds * fps)
    total = n_frames * (rate // fps)
    write_video(out, (frames[i % len(frames)] for i in range(n_frames)), fps,
                audio=audio[np.arange(total) % len(audio)], sample_rate=rate, options={"preset": "ultrafast"})


def peak_rss_child(video: pathlib.Path) -> dict:
    """Run the pipeline over ``video`` in a fresh process; its peak RSS (MiB) and frame count."""
    code = (
        "import resource, sys, time\n"
        "from affect_tf.media import FacePipeline\n"
        "n = 0\n"
        "t = time.perf_counter()\n"
        "for item in FacePipeline().process_video(sys.argv[1]):\n"
        "    n += 1\n"
        "    if n % 2500 == 0: print('  ...', n, 'frames', flush=True, file=sys.stderr)\n"
        "print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,"
        " time.perf_counter() - t)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(video)], cwd=REPO, check=True,
                         capture_output=True, text=True, env={**os.environ})
    n, rss, seconds = out.stdout.split()
    return {"frames": int(n), "peak_rss_mib": float(rss), "seconds": float(seconds)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=pathlib.Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--long-seconds", type=float, default=600.0)
    parser.add_argument("--detect-every", type=int, default=10)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args(argv)
    results = {}
    tracked = throughput(args.data, args.detect_every)
    every = throughput(args.data, 1)
    results["throughput"] = {"tracking": tracked, "detect_every_frame": every,
                             "speedup": tracked["fps_per_core"] / every["fps_per_core"]}
    print(json.dumps(results["throughput"], indent=2), flush=True)
    results["in_the_wild"] = [in_the_wild(args.data, name) for name in WILD_DETECTORS]
    print(json.dumps(results["in_the_wild"], indent=2), flush=True)
    if not args.skip_memory:
        with tempfile.TemporaryDirectory() as tmp:
            short, long = pathlib.Path(tmp) / "short.mp4", pathlib.Path(tmp) / "long.mp4"
            synthesise(args.data / "video" / GRID[0], short, 10.0)
            synthesise(args.data / "video" / GRID[0], long, args.long_seconds)
            a, b = peak_rss_child(short), peak_rss_child(long)
        results["memory"] = {"short": a, "long": b, "ratio": b["peak_rss_mib"] / a["peak_rss_mib"]}
        print(json.dumps(results["memory"], indent=2), flush=True)
    return results


if __name__ == "__main__":
    main()
