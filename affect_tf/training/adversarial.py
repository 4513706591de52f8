"""GradientTape trainers of the adversarial latent family (TF backend; keras.io GAN-example shape).

* :class:`AEGTrainer`: AEG-CD-SZ / AEG-CD / Disc (``000`` eq. 1-10).
* :class:`LatentAdversarialTrainer`: G, D and P together (ANCLaF ``003`` eq. 9, DiLaST ``001``
  eq. 13 with lambda_D = lambda_G = 0.25, lambda_P = 0.5).
* :class:`SequenceTrainer`: the sequence predictor on ZQ with the front ends frozen (``003`` §3.4).

Each trainer is one ``keras.Model`` holding the model, one optimizer per network (built by
:func:`affect_tf.training.trainer.make_optimizer` from the TrainConfig: optimizer, learning rate,
Adam beta_1, clipnorm; loss-scaled under mixed precision) and one ``keras.metrics.Mean`` per
reported loss; ``test_step`` reports the corpus-level CCCs (``valence_ccc``, ``arousal_ccc``,
``mean_ccc``) that early stopping follows. The stages they run in are :mod:`.recipes`.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from affect_tf import degradations, features, losses, metrics
from affect_tf.data.latents import latent_inputs
from affect_tf.models import label_mask
from affect_tf.models.adversarial.aeg_cd_sz import AEGCDSZConfig
from affect_tf.models.adversarial.adversarial_model import fold
from affect_tf.models.adversarial.dilast import DiLaSTConfig
from affect_tf.models.adversarial.latent_encoder import quadrant
from affect_tf.models.adversarial.sequence import LatentSequenceConfig
from affect_tf.training.config import TrainConfig
from affect_tf.training.registry import register_trainer
from affect_tf.training.optimizers import make_optimizer


def _folded_labels(x, y):
    return fold(y[features.TARGETS]), fold(label_mask(x, y))


def _optimizer(train_config):
    optimizer = make_optimizer(train_config)
    return keras.optimizers.LossScaleOptimizer(optimizer) if train_config.mixed_precision else optimizer


class _Trainer(keras.Model):
    """Holds ``self.model``; sub-classes name their networks in ``networks()`` and losses in
    ``loss_names``. ``call`` is the model's inference path."""

    loss_names: tuple[str, ...] = ()
    afc_terms = losses.AFC_TERMS

    def __init__(self, model, train_config=None, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.train_config = train_config
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.loss_names}
        self.affect_metrics = metrics.affect_metrics(("ccc", "pcc", "rmse"))
        self.optimizers = {}

    def networks(self) -> dict[str, list]:
        raise NotImplementedError

    def _afc(self, targets, pred, mask):
        balance = (self.train_config or TrainConfig()).afc_balance
        return losses.afc_loss(targets, pred, mask, balance=balance, terms=self.afc_terms)

    def compile_for(self, train_config=None, **kwargs):
        train_config = train_config or self.train_config or TrainConfig()
        self.optimizers = {}
        for name, variables in self.networks().items():
            # built here, not by the first step: a tf.function that creates variables traces twice
            self.optimizers[name] = _optimizer(train_config)
            self.optimizers[name].build(variables)
        super().compile(jit_compile=train_config.jit_compile, **kwargs)

    @property
    def metrics(self):
        return [*self.trackers.values(), *self.affect_metrics]

    def call(self, inputs, training=False):
        return self.model(inputs, training=training)

    def _apply(self, tape, name, loss):
        variables = [v for v in self.networks()[name] if v.trainable]
        optimizer = self.optimizers[name]
        # The tape has stopped recording: scale through the output gradient (loss scaling under
        # mixed precision), since a product taken here would have no gradient at all.
        grads = tape.gradient(loss, variables, output_gradients=optimizer.scale_loss(ops.ones_like(loss)))
        replicas = tf.distribute.get_strategy().num_replicas_in_sync  # tf.distribute sums replica gradients
        optimizer.apply_gradients([(g / replicas, v) for g, v in zip(grads, variables) if g is not None])

    def _report(self, values: dict, targets=None, pred=None, mask=None):
        if pred is not None:
            for metric in self.affect_metrics:
                metric.update_state(targets, pred, mask)
        # a step counts once if it has labelled frames: tf.distribute also runs the step on an
        # unlabelled stand-in batch on a replica whose input ran out, which must not count
        step = 1.0 if mask is None else tf.cast(tf.reduce_sum(mask) > 0, "float32")
        for name, value in values.items():
            self.trackers[name].update_state(value, sample_weight=step)
        return self.get_metrics_result()

    def get_metrics_result(self):
        # Keras logs this after each epoch, read across replicas: the corpus-level CCC of every
        # worker's frames (a step's own results hold this replica's frames only)
        out = {m.name: m.result() for m in self.metrics}
        if "valence_ccc" in out:
            out["mean_ccc"] = (out["valence_ccc"] + out["arousal_ccc"]) / 2.0
        return out

    def _predict(self, x, training):
        return self.model(x, training=training)

    def test_step(self, data):
        x, y = data[0], data[1]
        pred = self._predict(x, training=False)[features.TARGETS]
        mask = label_mask(x, y)
        for metric in self.affect_metrics:
            metric.update_state(y[features.TARGETS], pred, mask)
        if "afc" in self.trackers:
            self.trackers["afc"].update_state(self._afc(y[features.TARGETS], pred, mask))
        return self.get_metrics_result()


def _variables(*layers_):
    return [v for layer in layers_ if layer is not None for v in layer.trainable_variables]


class AEGTrainer(_Trainer):
    """``000``: D minimises ``-L_adv + lambda_afc L_afc(real)`` (eq. 9); G minimises its adversarial
    term + ``lambda_afc L_afc(fake)`` + ``lambda_rec`` times the cycle reconstruction
    ``|x - G(G(x~))|`` (eq. 2, 10); L_afc is eq. 5-8 (RMSE + COR + CCC).
    Disc (no generator): D's V/A head alone with an l2 loss."""

    loss_names = ("d_loss", "g_loss", "g_adv", "d_fake", "rec", "afc")
    afc_terms = losses.AEG_AFC_TERMS

    def __init__(self, model, train_config=None, seed: int = 0, **kwargs):
        super().__init__(model, train_config, **kwargs)
        self.seed = keras.random.SeedGenerator(seed)

    def networks(self):
        nets = {"discriminator": self.model.discriminator.trainable_variables}
        if self.model.generator is not None:
            nets["generator"] = self.model.generator.trainable_variables
        return nets

    def train_step(self, data):
        x, y = data[0], data[1]
        cfg, model = self.model.config, self.model
        image = model.modality_image(x, features.FACE)[0]
        audio = model.audio(x)
        targets, mask = _folded_labels(x, y)
        if model.generator is None:
            with tf.GradientTape() as tape:
                va = model.discriminator(image, audio, training=True)["va"]
                d_loss = losses.masked_mse(targets, va, mask)
            self._apply(tape, "discriminator", d_loss)
            return self._report({"d_loss": d_loss}, targets, va, mask)
        noisy = degradations.random_degradation(image, seed=self.seed) if cfg.denoise else image
        with tf.GradientTape(persistent=True) as tape:
            fake = model.judge(noisy, audio, training=True)
            z_real = None
            if cfg.use_latent:
                z_real = ops.stop_gradient(model.generator.encode(image))
            real = model.discriminator(image, audio, z_real, training=True)
            d_fake = losses.constant_target_bce(fake["critic"], 0.0)
            d_afc = self._afc(targets, real["va"], mask)
            d_loss = losses.constant_target_bce(real["critic"], 1.0) + d_fake + cfg.lambda_afc * d_afc
            g_adv = losses.constant_target_bce(fake["critic"], 1.0)
            afc = self._afc(targets, fake["va"], mask)
            cycle = model.generator(fake["x_hat"], training=True)[0]
            rec = losses.mean_absolute_error(image, cycle)
            g_loss = g_adv + cfg.lambda_afc * afc + cfg.lambda_rec * rec
        self._apply(tape, "discriminator", d_loss)
        self._apply(tape, "generator", g_loss)
        del tape
        return self._report({"d_loss": d_loss, "g_loss": g_loss, "g_adv": g_adv, "d_fake": d_fake,
                             "rec": rec, "afc": afc}, targets, fake["va"], mask)


class LatentAdversarialTrainer(_Trainer):
    """G, D and P trained together (``001`` eq. 13, ``003`` eq. 9), one optimizer each:

    * D: ``lambda_D (BCE(D(x), real) + BCE(D(G(x~)), fake) + CE(D_Q(x), quadrant(labels)))`` -
      real/fake and the circumplex quadrant (eq. 2) whose estimate conditions z; frames missing a
      label leave the quadrant term;
    * G: ``lambda_G BCE(D(G(x~)), real) + lambda_rec L1(x, G(x~)) + lambda_P L_afc(P)`` - G learns
      from D's judgement, from the clean frame and from P through z;
    * P: ``lambda_P L_afc(P([z; Q]), theta)``.
    ``x~`` is x degraded by :func:`affect_tf.degradations.random_degradation` when ``denoise``."""

    loss_names = ("d_loss", "g_loss", "p_loss", "g_adv", "d_fake", "rec", "afc")

    def __init__(self, model, train_config=None, seed: int = 0, **kwargs):
        super().__init__(model, train_config, **kwargs)
        self.seed = keras.random.SeedGenerator(seed)

    def networks(self):
        m = self.model
        return {"generator": _variables(m.generator), "discriminator": _variables(m.discriminator),
                "predictor": _variables(m.latent_encoder, m.va_head)}

    def train_step(self, data):
        x, y = data[0], data[1]
        cfg, model = self.model.config, self.model
        image = model.modality_image(x, cfg.modality)[0]
        targets, mask = _folded_labels(x, y)
        noisy = degradations.random_degradation(image, seed=self.seed) if cfg.denoise else image
        with tf.GradientTape(persistent=True) as tape:
            parts = model.forward_parts(noisy, training=True)
            real = model.discriminator(image, training=True)
            d_fake = losses.constant_target_bce(parts["critic"], 0.0)
            d_loss = cfg.lambda_d * (losses.constant_target_bce(real["critic"], 1.0) + d_fake
                                     + losses.masked_sparse_cross_entropy(quadrant(targets), real["quadrant"],
                                                                          mask[:, 0] * mask[:, 1]))
            afc = self._afc(targets, parts["va"], mask)
            g_adv = losses.constant_target_bce(parts["critic"], 1.0)
            rec = losses.mean_absolute_error(image, parts["x_hat"])
            g_loss = cfg.lambda_g * g_adv + cfg.lambda_rec * rec + cfg.lambda_p * afc
            p_loss = cfg.lambda_p * afc
        for name, loss in (("discriminator", d_loss), ("generator", g_loss), ("predictor", p_loss)):
            self._apply(tape, name, loss)
        del tape
        return self._report({"d_loss": d_loss, "g_loss": g_loss, "p_loss": p_loss, "g_adv": g_adv,
                             "d_fake": d_fake, "rec": rec, "afc": afc}, targets, parts["va"], mask)


class SequenceTrainer(_Trainer):
    """Second stage: the front ends (G, D) stay frozen; fusion, enc_P, LSTM and FC minimise
    L_afc (``003`` eq. 10). Batches carry raw features or cached ``zq_<modality>`` latents."""

    loss_names = ("afc",)

    def __init__(self, model, train_config=None, **kwargs):
        super().__init__(model, train_config, **kwargs)
        for generator, discriminator in model.frontends.values():
            generator.trainable = False
            discriminator.trainable = False

    def networks(self):
        m = self.model
        return {"predictor": _variables(m.gmu, m.latent_encoder, m.lstm, m.va_head)}

    def _predict(self, x, training):
        latents = latent_inputs(x, self.model.config.modalities)
        if latents is None:
            return self.model(x, training=training)
        return self.model.predict_latents(latents, training=training)

    def train_step(self, data):
        x, y = data[0], data[1]
        mask = label_mask(x, y)
        with tf.GradientTape() as tape:
            pred = self._predict(x, training=True)[features.TARGETS]
            afc = self._afc(y[features.TARGETS], pred, mask)
        self._apply(tape, "predictor", afc)
        return self._report({"afc": afc}, y[features.TARGETS], pred, mask)


def fit_trainer(trainer_cls, model, train_config, data, epochs=1, steps=None, verbose=0):
    trainer = trainer_cls(model, train_config)
    trainer.compile_for(train_config)
    history = trainer.fit(data, epochs=epochs, steps_per_epoch=steps, verbose=verbose)
    return trainer, history.history


register_trainer(AEGCDSZConfig, AEGTrainer)
register_trainer(DiLaSTConfig, LatentAdversarialTrainer)
register_trainer(LatentSequenceConfig, SequenceTrainer)
