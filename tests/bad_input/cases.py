"""The bad-input cases of issue 14, generated at test time with PyAV and numpy: one CSV manifest
whose rows are each one case (good recordings that must be written as in a clean run, and bad
ones that must be listed in ``errors`` while the others finish)."""
from __future__ import annotations

import csv
import fractions
import pathlib

import numpy as np

from affect_tf.media.encode import write_video
from tests.media.synthetic_media import face_image, speechlike

SIZE = 128  # small frames: the suite is about what happens to the files, not the faces
SR = 16000
FRAMES = 6


def _frames(n=FRAMES, size=SIZE):
    return [face_image(size)] * n


def _labels(n=FRAMES):
    return "valence,arousal\n" + "".join(f"{i / 50:.2f},{-i / 50:.2f}\n" for i in range(n))


# id -> (what it is, expected error fragment or None when the recording must be written)
GOOD = {
    "good": "video with audio and per-frame labels",
    "mute": "video without an audio track (audio masked)",
    "short_audio": "audio shorter than the video (the rest masked)",
    "timed": "time-stamped labels resampled to the frames",
    "long_labels": "labels file longer than the video",
    "odd_fps": "7.5 fps video",
    "vfr": "variable frame rate (frame times 0, 0.1, 0.3, 0.35, 0.7, 1.0 s)",
    "yuv444": "yuv444p video",
    "grey": "grey (gray pixel format) video",
    "unicode/ünï cødé": "unicode id and path",
    "speech": "speech-only row (audio, no video)",
    "nolabels": "prediction-only row without labels",
    "tail_cut": "mkv cut short: the frames before the cut are kept",
    "rotated": "phone video stored sideways and mirrored, with a display matrix (faces found upright)",
}
BAD = {
    "missing_video": "video {root}/nope.mp4 not found",
    "missing_audio": "audio {root}/nope.wav not found",
    "missing_labels": "labels {root}/nope.csv not found",
    "labels_text": "bad_text.csv: expected numbers in columns [0, 1]",
    "labels_range": "bad_range.csv: label 3.0 at row 2 is outside [-1.0, 1.0]",
    "labels_header": "bad_header.csv: labels need a header 'valence,arousal' or a time column",
    "labels_empty": "empty.csv: empty file",
    "labels_folder": "labels_dir: cannot read",
    "labels_time_back": "time_back.csv: time stamps must increase",
    "labels_no_arousal": "no_arousal.csv: none of the columns ('arousal',) found",
    "truncated": "truncated.mp4",
    "zero_bytes": "zero.mp4",
    "text_as_video": "text.mp4",
    "bad_split": "split 'holdout' is not one of",
    "bad_fps": "fps '-1' is not a positive number",
    "nothing": "neither a video nor an audio file",
    "short_row": "neither a video nor an audio file",
}


def make_drop(root: pathlib.Path) -> pathlib.Path:
    """Write the media, ``manifest.csv`` (every case) and ``clean.csv`` (the good rows only)."""
    root.mkdir(parents=True, exist_ok=True)
    speech = speechlike(FRAMES / 10, SR)
    write_video(root / "good.mp4", _frames(), fps=10, audio=speech, sample_rate=SR)
    write_video(root / "mute.mp4", _frames(), fps=10)
    write_video(root / "short_audio.mp4", _frames(), fps=10, audio=speech[:SR // 5], sample_rate=SR)
    write_video(root / "odd.mp4", _frames(4), fps=fractions.Fraction(15, 2))
    write_video(root / "vfr.mp4", _frames(), pts_ms=[0, 100, 300, 350, 700, 1000])
    (root / "unicode").mkdir(exist_ok=True)
    write_video(root / "unicode" / "vidéo ü.mp4", _frames(3), fps=10)
    _write_pix_fmt(root / "yuv444.mp4", "yuv444p", "rgb24")
    _write_pix_fmt(root / "grey.mp4", "gray", "gray")
    _write_wav(root / "speech.wav", speech)
    (root / "labels.csv").write_text(_labels())
    (root / "long_labels.csv").write_text(_labels(40))
    (root / "timed.csv").write_text("time,valence,arousal\n0,0,0\n0.5,0.5,-0.5\n")
    (root / "bad_text.csv").write_text("valence,arousal\n0.1,zz\n")
    (root / "bad_range.csv").write_text("valence,arousal\n0.1,0.1\n3.0,0\n")
    (root / "bad_header.csv").write_text("happy,sad\n0.1,0.1\n")
    (root / "empty.csv").write_text("")
    (root / "labels_dir").mkdir(exist_ok=True)
    (root / "time_back.csv").write_text("time,valence,arousal\n0.5,0,0\n0.2,0,0\n")
    (root / "no_arousal.csv").write_text("time,valence\n0,0\n1,0.5\n")
    data = (root / "good.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[:len(data) // 8])
    (root / "zero.mp4").write_bytes(b"")
    rng = np.random.default_rng(0)  # noisy frames: every frame costs about as many bytes
    noisy = [np.clip(f + rng.normal(0, 25, f.shape), 0, 255).astype(np.uint8) for f in _frames(12)]
    write_video(root / "tail.mkv", noisy, fps=10, container_format="matroska")
    data = (root / "tail.mkv").read_bytes()
    (root / "tail.mkv").write_bytes(data[:int(len(data) * 0.7)])
    (root / "text.mp4").write_text("this is not a video\n")
    write_rotated(root / "rotated.mp4", face_image(SIZE), -90, FRAMES, hflip=True)
    rows = [  # recording, video, audio, subject, labels, split, fps
        ("good", "good.mp4", "", "s1", "labels.csv", "", ""),
        ("mute", "mute.mp4", "", "s1", "labels.csv", "", ""),
        ("short_audio", "short_audio.mp4", "", "s2", "labels.csv", "validation", ""),
        ("timed", "good.mp4", "", "s2", "timed.csv", "", ""),
        ("long_labels", "good.mp4", "", "s3", "long_labels.csv", "", ""),
        ("odd_fps", "odd.mp4", "", "s3", "", "", ""),
        ("vfr", "vfr.mp4", "", "s4", "", "", ""),
        ("yuv444", "yuv444.mp4", "", "s4", "", "", ""),
        ("grey", "grey.mp4", "", "s5", "", "", ""),
        ("unicode/ünï cødé", "unicode/vidéo ü.mp4", "", "s5", "", "", ""),
        ("speech", "", "speech.wav", "s6", "timed.csv", "", "10"),
        ("nolabels", "good.mp4", "", "s6", "", "", ""),
        ("tail_cut", "tail.mkv", "", "s7", "", "", ""),
        ("rotated", "rotated.mp4", "", "s7", "", "", ""),
    ]
    _write_manifest(root / "clean.csv", rows)
    rows += [
        ("missing_video", "nope.mp4", "", "b", "", "", ""),
        ("missing_audio", "good.mp4", "nope.wav", "b", "", "", ""),
        ("missing_labels", "good.mp4", "", "b", "nope.csv", "", ""),
        ("labels_text", "good.mp4", "", "b", "bad_text.csv", "", ""),
        ("labels_range", "good.mp4", "", "b", "bad_range.csv", "", ""),
        ("labels_header", "good.mp4", "", "b", "bad_header.csv", "", ""),
        ("labels_empty", "good.mp4", "", "b", "empty.csv", "", ""),
        ("labels_folder", "good.mp4", "", "b", "labels_dir", "", ""),
        ("labels_time_back", "good.mp4", "", "b", "time_back.csv", "", ""),
        ("labels_no_arousal", "good.mp4", "", "b", "no_arousal.csv", "", ""),
        ("truncated", "truncated.mp4", "", "b", "", "", ""),
        ("zero_bytes", "zero.mp4", "", "b", "", "", ""),
        ("text_as_video", "text.mp4", "", "b", "", "", ""),
        ("bad_split", "good.mp4", "", "b", "", "holdout", ""),
        ("bad_fps", "", "speech.wav", "b", "", "", "-1"),
        ("nothing", "", "", "b", "", "", ""),
    ]
    _write_manifest(root / "manifest.csv", rows, tail="short_row,\n")
    return root


def _write_manifest(path, rows, tail=""):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["recording", "video", "audio", "subject", "labels", "split", "fps"])
        writer.writerows(rows)
        handle.write(tail)


def write_rotated(path, upright_image, degrees, n=2, hflip=False, vflip=False):
    """Store ``upright_image`` turned (and mirrored) so that a player applying the display matrix
    (``degrees`` counter-clockwise, then the mirrors) shows it upright, as a phone does."""
    shown = upright_image[:, ::-1] if hflip else upright_image
    shown = shown[::-1] if vflip else shown
    stored = np.ascontiguousarray(np.rot90(shown, -int(degrees) // 90))
    return write_video(path, [stored] * n, 10, pix_fmt="yuv444p", display_rotation=(degrees, hflip, vflip))


def _write_pix_fmt(path, pix_fmt, array_format):
    image = face_image(SIZE)
    if array_format == "gray":
        image = image.mean(-1).astype(np.uint8)
    write_video(path, [image] * FRAMES, 10, codec="libx264" if pix_fmt != "gray" else "ffv1", pix_fmt=pix_fmt,
                frame_format=array_format)


def _write_wav(path, samples):
    import wave

    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SR)
        handle.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


# Dataset drops in two native layouts (Aff-Wild2; RECOLA, whose layout SEWA and SEMAINE share):
# one good recording and broken ones, each listed with its file while the good one is written.
ADAPTER_ERRORS = {  # dataset -> {recording id: error fragment}
    "affwild2": {
        "broken": "{root}/annotations/VA_Set/Train_Set/broken.txt: expected numbers in columns [0, 1]",
        "out_of_range": "{root}/annotations/VA_Set/Train_Set/out_of_range.txt: label 7.0 at row 2 is outside",
        "binary": "{root}/annotations/VA_Set/Train_Set/binary.txt: cannot read",
        "lost": "{root}/annotations/VA_Set/Validation_Set/lost.txt: no video named lost.* under {root}",
    },
    "recola": {
        "broken": "{root}/ratings/valence/broken.arff: ARFF without @attribute/@data sections",
        "one_sided": "{root}/ratings/valence/one_sided.arff: no arousal/one_sided.csv|.arff beside it",
        "lost": "{root}/ratings/valence/lost.arff: no video named lost.* under {root}",
        "text_video": "{root}/video/text_video.mp4: cannot read the frame rate",
    },
}


def make_adapter_drops(root: pathlib.Path, media: pathlib.Path) -> dict[str, pathlib.Path]:
    """An Aff-Wild2 and a RECOLA drop under ``root`` using ``media``'s good.mp4 (6 frames)."""
    video = (media / "good.mp4").read_bytes()
    aff = root / "affwild2"
    for name in ("good", "broken", "out_of_range", "binary"):
        _write(aff / "videos" / f"{name}.mp4", video)
    train = aff / "annotations" / "VA_Set" / "Train_Set"
    _write(train / "good.txt", _labels())
    _write(train / "broken.txt", "valence,arousal\n0.1,0.1\n0.2,high\n")
    _write(train / "out_of_range.txt", "valence,arousal\n0.1,0.1\n7,0.2\n")
    _write(train / "binary.txt", b"\xff\xfe\x00valence\x81\n")
    _write(aff / "annotations" / "VA_Set" / "Validation_Set" / "lost.txt", _labels())
    recola = root / "recola"
    for name in ("good", "broken", "one_sided"):
        _write(recola / "video" / f"{name}.mp4", video)
    _write(recola / "video" / "text_video.mp4", "this is not a video\n")
    arff = "@relation GS\n@attribute frameTime numeric\n@attribute GoldStandard numeric\n@data\n"
    ramp = arff + "".join(f"{i * 0.04:.2f},{i / 20}\n" for i in range(15))
    for name in ("good", "lost", "text_video"):
        _write(recola / "ratings" / "valence" / f"{name}.arff", ramp)
        _write(recola / "ratings" / "arousal" / f"{name}.arff", ramp)
    _write(recola / "ratings" / "valence" / "broken.arff", "@relation GS\n0.0,0.1\n")
    _write(recola / "ratings" / "arousal" / "broken.arff", ramp)
    _write(recola / "ratings" / "valence" / "one_sided.arff", ramp)
    return {"affwild2": aff, "recola": recola}


def _write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
