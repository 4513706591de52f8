"""Clients for TF Serving's gRPC API (:class:`affect_tf.remote.ServingClient`, re-exported) and
REST API (:class:`RestServingClient`).

The REST client retries connection failures and HTTP 503 with exponential backoff (urllib3's
``Retry``) and fails with :class:`~affect_tf.serving.protocol.ServingError` like the gRPC one.
"""
from __future__ import annotations

import json

import grpc
import numpy as np

from affect_tf import export as export_lib
from affect_tf import features as F
from affect_tf.remote import GRPC_MAX_ATTEMPTS, ServingClient, retry_service_config  # noqa: F401
from affect_tf.serving.protocol import GRPC_CODE, METADATA_FIELD_AFFECT, METADATA_FIELD_SIGNATURES, ServingError, to_json_value

class RestServingClient:
    """The same calls over TF Serving's REST API (``http://host:8501``), columnar JSON format."""

    def __init__(self, base_url: str, model_name: str = F.MODEL_NAME, timeout: float = 10.0,
                 retries: int = 3, backoff: float = 0.2):
        import urllib3

        self.base_url, self.model_name = base_url.rstrip("/"), model_name
        # Connection failures and 503 are retried: at once the first time, then after
        # backoff * 2**(n-1) s before the n-th retry.
        retry = urllib3.Retry(total=retries, backoff_factor=backoff, status_forcelist=(503,),
                              allowed_methods=None, raise_on_status=False)
        self._http = urllib3.PoolManager(retries=retry, timeout=timeout)

    def _url(self, version, suffix=""):
        path = f"{self.base_url}/v1/models/{self.model_name}"
        return path + (f"/versions/{int(version)}" if version is not None else "") + suffix

    def _request(self, what, url, body=None):
        import urllib3

        try:
            reply = self._http.request("GET" if body is None else "POST", url,
                                       body=None if body is None else json.dumps(body).encode(),
                                       headers={"Content-Type": "application/json"})
        except urllib3.exceptions.HTTPError as exc:
            raise ServingError(grpc.StatusCode.UNAVAILABLE,
                               f"{what} {url} failed: server unreachable: {exc}") from None
        if reply.status >= 400:
            detail = reply.data.decode(errors="replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except (ValueError, AttributeError):
                pass
            code = GRPC_CODE.get(reply.status, grpc.StatusCode.UNKNOWN)
            raise ServingError(code, f"{what} {url} failed: HTTP {reply.status} ({code.name}): {detail}")
        return json.loads(reply.data)

    def predict(self, inputs: dict, signature: str = export_lib.DEFAULT_SIGNATURE,
                version: int | None = None) -> dict:
        body = {"signature_name": signature, "inputs": {k: to_json_value(v) for k, v in inputs.items()}}
        reply = self._request("predict", self._url(version, ":predict"), body)
        outputs = reply["outputs"]
        if not isinstance(outputs, dict):  # a single-output signature answers a bare list
            outputs = {"output": outputs}
        return {k: np.asarray(v, dtype=np.float32) for k, v in outputs.items()}

    def get_metadata(self, version: int | None = None) -> dict:
        reply = self._request("metadata", self._url(version, "/metadata"))
        return {"version": int(reply["model_spec"]["version"]),
                "signature_def": reply["metadata"][METADATA_FIELD_SIGNATURES],
                "metadata": reply["metadata"].get(METADATA_FIELD_AFFECT, {})}

    def get_status(self, version: int | None = None) -> dict:
        reply = self._request("status", self._url(version))
        return {int(s["version"]): s["state"] for s in reply["model_version_status"]}
