"""Helpers that the tests and the benchmarks share: a tiny model that follows the serving
contract (:mod:`~affect_tf.testing.tiny_model`) and real local Dask clusters and ports
(:mod:`~affect_tf.testing.local_cluster`). Nothing in the library imports them."""
