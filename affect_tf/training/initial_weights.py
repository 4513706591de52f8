"""What a single-stage run loads into its freshly built model before training: the members of a
model-level fusion (``TrainConfig.fusion_members``, ``004`` §5.4.1) or a pretrained face CNN
(``TrainConfig.backbone_weights``), then a warm start."""
from __future__ import annotations

from affect_tf.training.backbone_weights import face_backbones, load_backbone_weights
from affect_tf.training.fitting import warm_start


def initial_weights(train_config):
    """``init(model)`` for :func:`affect_tf.training.fitting.fit_stage`, or None when nothing is
    loaded."""
    if not (train_config.fusion_members or train_config.warm_start or train_config.backbone_weights):
        return None

    def init(model):
        if train_config.backbone_weights:  # pretrained face CNN first; a warm start overrides it
            load_backbone_weights(model, train_config.backbone_weights)
            for backbone, _ in face_backbones(model) if train_config.freeze_backbone else ():
                backbone.trainable = False  # before compile: the optimizer never sees its weights
        if train_config.fusion_members:
            if not hasattr(model, "load_members"):
                raise ValueError(f"fusion_members: {type(model).__name__} ({train_config.preset}) is not a "
                                 "model-level fusion (cnn_3rnn_fusion_rnn, cnn_3rnn_fusion_fc)")
            model.load_members(train_config.fusion_members)
        if train_config.warm_start:
            warm_start(model, train_config.warm_start)

    return init
