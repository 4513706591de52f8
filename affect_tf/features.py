"""Names and shapes of the per-frame features: the contract between the media preprocessing,
the records, the ``tf.data`` reader, the models and the serving signatures.

A batch from the reader is ``(features, labels)`` (plus ``meta`` when ids are kept):

* ``features[FACE]``       float32 (B, T, S, S, 3), aligned face crop scaled to [-1, 1]
* ``features[LANDMARKS]``  float32 (B, T, 68, 2), landmarks in crop coordinates scaled to [-1, 1]
* ``features[FACE_MASK]``  float32 (B, T), 1 where a face was found
* ``features[MEL]``        float32 (B, T, 128, 128), mel window in dB (max 0, floor -80),
  axes (mels, STFT frames)
* ``features[EGEMAPS]``    float32 (B, T, EGEMAPS_DIM), eGeMAPS LLDs pooled over the frame's span
* ``features[AUDIO_MASK]`` float32 (B, T), 1 where the recording has audio for the frame
* ``features[FRAME_MASK]`` float32 (B, T), 1 for real frames, 0 for padding past the end
* ``labels[TARGETS]``      float32 (B, T, 2), (valence, arousal) on the common scale [-1, 1]
* ``labels[LABEL_MASK]``   float32 (B, T, 2), 1 where the label is known
* ``meta[RECORDING_ID]``   string (B,), ``meta[FRAME_INDEX]`` int32 (B, T)

Models take the ``features`` dict (using the keys they need) and return a dict holding at least
``outputs[TARGETS]`` (B, T, 2); optional extra outputs are named in ``OPTIONAL_OUTPUTS``.
"""

FACE = "face"
LANDMARKS = "landmarks"
FACE_MASK = "face_mask"
FACE_CONFIDENCE = "face_confidence"  # detector confidence per frame, [0, 1] (records v2)
LANDMARKS_FITTED = "landmarks_fitted"  # 1: 68-point fit, 0: aligned on 5 detector points
MEL = "mel"
EGEMAPS = "egemaps"
AUDIO_MASK = "audio_mask"
FRAME_MASK = "frame_mask"
TARGETS = "valence_arousal"
LABEL_MASK = "label_mask"
RECORDING_ID = "recording_id"
FRAME_INDEX = "frame_index"
ATTENTION = "attention"
GATE = "gate"
OPTIONAL_OUTPUTS = (ATTENTION, GATE)

N_LANDMARKS = 68
N_MELS = 128
MEL_FRAMES = 128
EGEMAPS_DIM = 25  # eGeMAPSv02 low-level descriptors per openSMILE frame
MEL_FLOOR_DB = -80.0
SAMPLE_RATE = 22050
CROP_SIZES = (96, 128)  # CNN-RNN family (004 §4) / adversarial family (003, 001)
DEFAULT_CROP_SIZE = CROP_SIZES[0]
MODEL_NAME = "affect"  # the served model's default name (TF Serving's model_name)


def feature_shapes(crop_size: int = DEFAULT_CROP_SIZE) -> dict:
    """Per-frame shapes (no batch or time axis) of every feature."""
    return {
        FACE: (crop_size, crop_size, 3),
        LANDMARKS: (N_LANDMARKS, 2),
        FACE_MASK: (),
        MEL: (N_MELS, MEL_FRAMES),
        EGEMAPS: (EGEMAPS_DIM,),
        AUDIO_MASK: (),
        FRAME_MASK: (),
    }
