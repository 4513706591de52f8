"""Datasets and records: adapters -> manifest, the TFRecord schema, the Beam preprocessing job,
the ``tf.data`` reader and the learnable synthetic drop (``docs/data.md``).

Sub-modules import lazily: ``adapters`` and ``synthetic`` need no TensorFlow; ``schema`` and
``reader`` do; ``beam_job`` needs Apache Beam.
"""
