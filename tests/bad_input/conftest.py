"""The serving tests' trained tiny model, export and running server, shared by the request
rejection tests here."""
from tests.serving.conftest import client, export_base, server, trained  # noqa: F401
