"""A deterministic stand-in for the media pipeline, used only to test the Beam job's own
mechanics (resume, kill, failures, worker counts) quickly. The real FacePipeline is tested
end to end in test_beam_job.py as well."""
import hashlib
import os
import time

import numpy as np

from affect_tf.media.items import FrameItem


class ArrayProcessor:
    def __init__(self, crop_size=32, sleep=None, fail_ids=(), n_frames=None):
        sleep = float(os.environ.get("AFFECT_TF_FAKE_SLEEP", 0)) if sleep is None else sleep
        self.crop_size, self.sleep, self.fail_ids, self.n_frames = crop_size, sleep, set(fail_ids), n_frames
        self.pid = os.getpid()

    def process(self, recording):
        if recording.id in self.fail_ids:
            raise RuntimeError(f"{recording.video}: corrupt on purpose")
        n = self.n_frames or recording.n_labels or 5
        seed = int(hashlib.sha256(recording.id.encode()).hexdigest()[:8], 16)
        rng = np.random.default_rng(seed)
        for i in range(n):
            if self.sleep:
                time.sleep(self.sleep)
            yield FrameItem(
                index=i, timestamp=i / 10.0,
                face=rng.integers(0, 256, (self.crop_size, self.crop_size, 3), dtype=np.uint8),
                face_present=bool(i % 4), landmarks_image=np.zeros((68, 2), np.float32),
                landmarks_crop=rng.uniform(-1, 1, (68, 2)).astype(np.float32),
                mel=rng.uniform(-80, 0, (128, 128)).astype(np.float32),
                egemaps=rng.standard_normal(25).astype(np.float32), audio_present=i != 2)
