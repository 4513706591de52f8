"""``affect-tf run``'s progress bar over the pipeline's components."""
from __future__ import annotations

import logging
import re
import sys

from absl import logging as absl_logging
from tqdm import tqdm

from affect_tf.training.fitting import EPOCH_LOG_PREFIX


class ComponentProgress(logging.Handler):
    """A tqdm bar over the pipeline's components on stderr: one step per finished component,
    named after it (from TFX's 'Component X is running/finished.' log lines, absl INFO), and
    while the Trainer runs its recipe stage, epoch and last validation CCC; the libraries' warnings still come through as lines above the bar."""

    _EVENT = re.compile(r"Component (\S+) is (running|finished)\.")
    _TRAINING = re.compile(re.escape(EPOCH_LOG_PREFIX) + "(.*)")

    def __init__(self):
        super().__init__(logging.INFO)
        self.bar = None

    def start(self, component_ids):
        # mininterval 0: every component is drawn, however fast it finishes (a handful of steps)
        self.bar = tqdm(total=len(component_ids), desc="run", unit="component", file=sys.stderr,
                        dynamic_ncols=True, mininterval=0)

    def emit(self, record):
        message = record.getMessage()
        event = self._EVENT.match(message)
        training = self._TRAINING.match(message)
        if training and self.bar is not None:  # what the Trainer is doing: stage, epoch, val CCC
            self.bar.set_postfix_str(f"Trainer: {training.group(1)}")
        elif event and self.bar is not None:
            name, state = event.groups()
            if state == "running":
                self.bar.set_postfix_str(name)
            else:
                self.bar.set_postfix_str(f"{name} finished", refresh=False)
                self.bar.update()
        elif record.levelno >= logging.WARNING and "property_predicate is not supported" not in message:
            (self.bar.write if self.bar is not None else print)(f"{record.levelname}: {message}", file=sys.stderr)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        super().close()


def show_progress() -> ComponentProgress:
    """TFX's component lines into the progress bar instead of its full INFO log."""
    absl_logging.set_verbosity(absl_logging.INFO)
    handler = ComponentProgress()
    logger = logging.getLogger("absl")
    logger.handlers = [handler]
    logger.propagate = False
    return handler
