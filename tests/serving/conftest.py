"""One trained, exported model and one running local server shared by the serving tests."""
from __future__ import annotations

import pytest

from affect_tf.testing.tiny_model import METADATA, MODEL_NAME, train_tiny_model


@pytest.fixture(scope="session")
def trained():
    model, losses = train_tiny_model(steps=8)
    return model, losses


@pytest.fixture(scope="session")
def export_base(trained, tmp_path_factory):
    from affect_tf import export

    base = tmp_path_factory.mktemp("models") / MODEL_NAME
    export.export_for_serving(trained[0], base, version=1, metadata=METADATA)
    return base


@pytest.fixture(scope="session")
def server(export_base):
    from affect_tf.serving.server import LocalModelServer

    srv = LocalModelServer({MODEL_NAME: export_base}, port=0, rest_port=0, poll_seconds=0.3)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def client(server):
    from affect_tf.serving.client import ServingClient

    with ServingClient(server.target, MODEL_NAME, timeout=30.0) as c:
        yield c
