"""The ``affect-tf`` sub-commands, one module each: flags in ``register(parser)``, then one call
of the library (``affect_tf.cli.COMMANDS`` lists them); ``serve``, ``predict`` and ``run`` come
from the outer packages."""
