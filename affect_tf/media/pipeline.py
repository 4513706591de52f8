"""One recording -> a stream of :class:`FrameItem` (``docs/media.md``). No Beam in here."""
from __future__ import annotations

import os
from typing import Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from affect_tf import features
from affect_tf.media import decode, template
from affect_tf.media.audio import EGEMAPS_MIN_S, AudioFeatureStream
from affect_tf.media.config import MediaConfig
from affect_tf.media.decode import MediaError
from affect_tf.media.face import FaceTracker
from affect_tf.media.items import FrameItem


FACE_INPUTS = (features.FACE, features.LANDMARKS)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def is_image(path) -> bool:
    """A still image (by its suffix): processed with :meth:`FacePipeline.process_photo`."""
    return os.fspath(path).lower().endswith(IMAGE_SUFFIXES)


def require_face_free(input_names, what) -> None:
    """Refuse a speech-only input for a model that needs the face, naming both."""
    needs = [name for name in input_names if name in FACE_INPUTS]
    if needs:
        raise MediaError(what, f"speech only (no video), but the model needs the face ({', '.join(needs)}); "
                         "use an audio preset (e.g. rnn_baseline_audio, implicit_fusion_audio, au_de)")


class FacePipeline:
    """Decode, detect/track, landmark, align and compute audio features for every frame.

    The dlib models load once here; one instance per worker (Beam ``DoFn.setup``) serves any
    number of recordings, one at a time.
    """

    def __init__(self, config: MediaConfig | None = None):
        self.config = config or MediaConfig()
        self.tracker = FaceTracker(self.config)

    # -- public --------------------------------------------------------------------------------
    def process_media(self, path, fps: float = 25.0, input_names=()) -> Iterator[FrameItem]:
        """A video's frames, or, for a file without a video stream, :meth:`process_audio` on a
        grid at ``fps`` (refused when ``input_names`` include face inputs)."""
        if decode.has_video_stream(os.fspath(path)):
            return self.process_video(path)
        require_face_free(input_names, path)
        return self.process_audio(path, fps)

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

    def process_stream(self, frames: Iterable, fps: float, audio_blocks: Iterable = (),
                       name: str = "stream", egemaps: bool = True) -> Iterator[FrameItem]:
        """A live stream (:mod:`affect_tf.media.live_source`): ``frames`` yields ``(index,
        seconds, rgb uint8)`` as they arrive and ``audio_blocks`` the mono sample blocks of its
        sound, pulled as far as the audio features of a frame need (``docs/live.md``).
        ``egemaps=False``: zeros instead of eGeMAPS (for a model that does not read them)."""
        return self._run(((i, t, image, None) for i, t, image in frames), 1.0 / fps, audio_blocks, name,
                         egemaps=egemaps)

    def process_images(self, image_paths: Sequence, fps: float, landmarks=None,
                       audio_path=None, face_crops: bool = False) -> Iterator[FrameItem]:
        """Frames shipped as images (AFEW-VA), frame i at time i / fps. ``landmarks`` (N, 68, 2)
        in image pixels, when given, replace detection for alignment.

        ``face_crops``: each image is itself a face (FER-2013, CK+48, AffectNet crops). Images
        smaller than the crop are first upsampled by a whole factor to at least its size (the
        detector misses faces under ~80 px), then detected (each image on its own, no tracking,
        dlib's detector without the MTCNN fallback), landmarked and aligned as video frames are; where no face is detected, the 68 points are fitted inside the whole image
        and the face aligned on them when they are plausible, else the whole image, resized,
        is the crop with the mean shape as landmarks (``landmarks_fitted`` False). Either way
        the frame keeps its face."""
        image_paths = [os.fspath(p) for p in image_paths]
        if landmarks is not None:
            landmarks = np.asarray(landmarks, np.float32)
            if landmarks.shape != (len(image_paths), features.N_LANDMARKS, 2):
                raise ValueError(f"landmarks must have shape ({len(image_paths)}, 68, 2), "
                                 f"got {landmarks.shape}")
        blocks = (decode.iter_audio_blocks(os.fspath(audio_path), self.config.sample_rate)
                  if audio_path is not None else ())
        def frame(i, path):
            image, given = read_image(path), None if landmarks is None else landmarks[i]
            if face_crops:
                factor = -(-self.config.crop_size // min(image.shape[:2]))  # ceiling
                image = upsample(image, factor)
                given = None if given is None else given * factor + (factor - 1) / 2
            return i, i / fps, image, given

        frames = (frame(i, p) for i, p in enumerate(image_paths))
        yield from self._run(frames, 1.0 / fps, blocks, image_paths[0] if image_paths else "",
                             face_crops=face_crops)

    def process_audio(self, audio_path, fps: float = 25.0) -> Iterator[FrameItem]:
        """Speech only: one item per frame of a grid at ``fps`` (frame i at i / fps) over the
        audio's duration, with zero faces/landmarks and ``face_present`` False."""
        audio_path = os.fspath(audio_path)
        audio = AudioFeatureStream(decode.iter_audio_blocks(audio_path, self.config.sample_rate),
                                   self.config)
        if not audio.has_audio:
            if audio.duration:
                raise MediaError(audio_path, f"audio is {audio.duration * 1000:.0f} ms long, too short for one "
                                             f"frame of features (eGeMAPS needs {EGEMAPS_MIN_S * 1000:.0f} ms)")
            raise MediaError(audio_path, "no audio stream (and no video): nothing to process")
        size, duration = self.config.crop_size, 1.0 / fps
        no_face = np.zeros((size, size, 3), np.uint8)
        no_landmarks = np.zeros((features.N_LANDMARKS, 2), np.float32)
        index = 0
        while True:
            timestamp = index * duration
            mel = audio.mel(timestamp)  # pulls audio past t: duration is exact when t is beyond it
            if timestamp >= audio.duration:
                return
            egemaps = audio.egemaps(timestamp, duration).astype(np.float32)
            audio.release_before(timestamp, duration)
            yield FrameItem(index=index, timestamp=float(timestamp), face=no_face, face_present=False,
                            landmarks_image=no_landmarks, landmarks_crop=no_landmarks, mel=mel,
                            egemaps=egemaps, audio_present=True)
            index += 1

    def process_photo(self, image_path) -> list[FrameItem]:
        """A still image (turned upright by its EXIF orientation): one item per face, left to
        right, ``track_id`` its rank; one item without a face when none is found."""
        from affect_tf.media.face import align

        image = read_image(image_path)
        size = self.config.crop_size
        no_audio = dict(mel=np.zeros((features.N_MELS, features.MEL_FRAMES), np.float32),
                        egemaps=np.zeros(features.EGEMAPS_DIM, np.float32), audio_present=False)
        items = []
        for rank, (det, lm, fitted) in enumerate(self.tracker.faces(image)):
            crop, crop_lm, _ = align(image, lm, size, weights=self.config.alignment_weights,
                                     five=None if fitted else det.five)
            items.append(FrameItem(
                index=0, timestamp=0.0, face=crop, face_present=True,
                landmarks_image=lm.astype(np.float32),
                landmarks_crop=(crop_lm / (size - 1) * 2 - 1).astype(np.float32),
                face_confidence=det.confidence, landmarks_fitted=fitted,
                face_box=tuple(float(v) for v in det.box), track_id=rank, **no_audio))
        if not items:
            zeros = np.zeros((features.N_LANDMARKS, 2), np.float32)
            items.append(FrameItem(index=0, timestamp=0.0, face=np.zeros((size, size, 3), np.uint8),
                                   face_present=False, landmarks_image=zeros, landmarks_crop=zeros,
                                   **no_audio))
        return items

    # -- internals -----------------------------------------------------------------------------
    def _run(self, frames: Iterable, frame_duration: float, blocks, path,
             face_crops: bool = False, egemaps: bool = True) -> Iterator[FrameItem]:
        cfg = self.config
        size = cfg.crop_size
        audio = AudioFeatureStream(blocks, cfg, with_egemaps=egemaps)
        has_audio = None
        self.tracker.reset()
        self.tracker.crops = face_crops
        for index, timestamp, image, given in frames:
            if face_crops:  # each image is its own photograph: detect, never track from the last
                self.tracker.reset()
            if has_audio is None:
                has_audio = audio.has_audio
            lm = self.tracker.update(image, given, timestamp)
            if lm is None and face_crops:
                lm = self.tracker.fit_whole_image(image)
            if lm is not None:
                crop, crop_lm = self.tracker.aligned(image, lm)
                item_face = crop
                lm_crop = (crop_lm / (size - 1) * 2 - 1).astype(np.float32)
                lm_image = lm.astype(np.float32)
            elif face_crops:  # the image is the face: resized whole, the mean shape as landmarks
                item_face = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))
                mean_shape = template.template_68(size)
                lm_crop = (mean_shape / (size - 1) * 2 - 1).astype(np.float32)
                lm_image = (mean_shape * np.array(image.shape[1::-1]) / size).astype(np.float32)
            else:
                item_face = np.zeros((size, size, 3), np.uint8)
                lm_crop = np.zeros((features.N_LANDMARKS, 2), np.float32)
                lm_image = np.zeros((features.N_LANDMARKS, 2), np.float32)
            present = bool(has_audio)
            if present:
                mel = audio.mel(timestamp)  # pulls audio well past t, so duration is known
                lld = (audio.egemaps(timestamp, frame_duration).astype(np.float32) if egemaps
                       else np.zeros(features.EGEMAPS_DIM, np.float32))
                audio.release_before(timestamp, frame_duration)
                present = timestamp < audio.duration
            if not present:
                mel = np.zeros((features.N_MELS, features.MEL_FRAMES), np.float32)
                lld = np.zeros(features.EGEMAPS_DIM, np.float32)
            yield FrameItem(
                index=index, timestamp=float(timestamp), face=item_face,
                face_present=lm is not None or face_crops, landmarks_image=lm_image, landmarks_crop=lm_crop,
                mel=mel, egemaps=lld, audio_present=present,
                face_confidence=self.tracker.confidence if lm is not None else 0.0,
                landmarks_fitted=lm is not None and self.tracker.landmarks_fitted,
                face_box=self.tracker.box if lm is not None else (0.0, 0.0, 0.0, 0.0),
                track_id=max(self.tracker.track_id, 0),
            )


def upsample(image: np.ndarray, factor: int) -> np.ndarray:
    """``image`` enlarged ``factor`` times (bicubic); itself when ``factor`` <= 1."""
    if factor <= 1:
        return image
    height, width = image.shape[:2]
    return np.asarray(Image.fromarray(image).resize((width * factor, height * factor), Image.Resampling.BICUBIC))


def read_image(path) -> np.ndarray:
    """RGB uint8 image, turned by its EXIF orientation; :class:`MediaError` when it cannot be read."""
    from PIL import ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:  # upright as a viewer shows it (a phone photo's EXIF turn)
            return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    except (OSError, UnidentifiedImageError) as err:
        raise MediaError(path, f"not a readable image ({err})") from err
