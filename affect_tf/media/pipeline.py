"""One recording -> a stream of :class:`FrameItem` (``docs/media.md``). No Beam in here."""
from __future__ import annotations

import os
from typing import Iterable, Iterator, Sequence

import numpy as np

from affect_tf import features
from affect_tf.media import decode
from affect_tf.media.audio import AudioFeatureStream
from affect_tf.media.config import MediaConfig
from affect_tf.media.decode import MediaError
from affect_tf.media.face import FaceTracker
from affect_tf.media.items import FrameItem


class FacePipeline:
    """Decode, detect/track, landmark, align and compute audio features for every frame.

    The dlib models load once here; one instance per worker (Beam ``DoFn.setup``) serves any
    number of recordings, one at a time.
    """

    def __init__(self, config: MediaConfig | None = None):
        self.config = config or MediaConfig()
        self.tracker = FaceTracker(self.config)

    # -- public --------------------------------------------------------------------------------
    def process_video(self, video_path, audio_path=None) -> Iterator[FrameItem]:
        """One item per decoded video frame, streamed. Audio comes from the video's own track
        unless ``audio_path`` is given; without audio the items have ``audio_present`` False."""
        video_path = os.fspath(video_path)
        info = decode.video_info(video_path)
        if audio_path is not None:
            blocks = decode.iter_audio_blocks(os.fspath(audio_path), self.config.sample_rate)
        else:
            blocks = decode.iter_audio_blocks(video_path, self.config.sample_rate,
                                              start_time=info["video_start"])
        frames = ((i, t, image, None) for i, t, image in decode.iter_video_frames(video_path))
        yield from self._run(frames, 1.0 / info["fps"], blocks, video_path)

    def process_images(self, image_paths: Sequence, fps: float, landmarks=None,
                       audio_path=None) -> Iterator[FrameItem]:
        """Frames shipped as images (AFEW-VA), frame i at time i / fps. ``landmarks`` (N, 68, 2)
        in image pixels, when given, replace detection for alignment."""
        image_paths = [os.fspath(p) for p in image_paths]
        if landmarks is not None:
            landmarks = np.asarray(landmarks, np.float32)
            if landmarks.shape != (len(image_paths), features.N_LANDMARKS, 2):
                raise ValueError(f"landmarks must have shape ({len(image_paths)}, 68, 2), "
                                 f"got {landmarks.shape}")
        blocks = (decode.iter_audio_blocks(os.fspath(audio_path), self.config.sample_rate)
                  if audio_path is not None else ())
        frames = ((i, i / fps, read_image(p), None if landmarks is None else landmarks[i])
                  for i, p in enumerate(image_paths))
        yield from self._run(frames, 1.0 / fps, blocks, image_paths[0] if image_paths else "")

    # -- internals -----------------------------------------------------------------------------
    def _run(self, frames: Iterable, frame_duration: float, blocks, path) -> Iterator[FrameItem]:
        cfg = self.config
        size = cfg.crop_size
        audio = AudioFeatureStream(blocks, cfg)
        has_audio = None
        self.tracker.reset()
        for index, timestamp, image, given in frames:
            if has_audio is None:
                has_audio = audio.has_audio
            lm = self.tracker.update(image, given)
            if lm is not None:
                crop, crop_lm = self.tracker.aligned(image, lm)
                item_face = crop
                lm_crop = (crop_lm / (size - 1) * 2 - 1).astype(np.float32)
                lm_image = lm.astype(np.float32)
            else:
                item_face = np.zeros((size, size, 3), np.uint8)
                lm_crop = np.zeros((features.N_LANDMARKS, 2), np.float32)
                lm_image = np.zeros((features.N_LANDMARKS, 2), np.float32)
            present = bool(has_audio)
            if present:
                mel = audio.mel(timestamp)  # pulls audio well past t, so duration is known
                egemaps = audio.egemaps(timestamp, frame_duration).astype(np.float32)
                audio.release_before(timestamp, frame_duration)
                present = timestamp < audio.duration
            if not present:
                mel = np.zeros((features.N_MELS, features.MEL_FRAMES), np.float32)
                egemaps = np.zeros(features.EGEMAPS_DIM, np.float32)
            yield FrameItem(
                index=index, timestamp=float(timestamp), face=item_face,
                face_present=lm is not None, landmarks_image=lm_image, landmarks_crop=lm_crop,
                mel=mel, egemaps=egemaps, audio_present=present,
            )


def read_image(path) -> np.ndarray:
    """RGB uint8 image; :class:`MediaError` when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError) as err:
        raise MediaError(path, f"not a readable image ({err})") from err
