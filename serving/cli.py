"""``affect-tf serve`` and ``affect-tf predict`` (registered through the ``affect_tf.commands``
entry points in setup.py, so ``affect_tf`` never imports this package)."""
from __future__ import annotations

import argparse


def register_serve(parser: argparse.ArgumentParser) -> None:
    """``affect-tf serve NAME=BASE_DIR ...``: the local TF Serving API server (gRPC, REST)."""
    from serving import server

    server.add_arguments(parser)
    parser.set_defaults(func=server.serve_from_args)


def register_predict(parser: argparse.ArgumentParser) -> None:
    """``affect-tf predict VIDEO (--server HOST:PORT | --model DIR) --out DIR``."""
    from serving import predict

    predict.add_arguments(parser)
    parser.set_defaults(func=predict.predict_from_args)
