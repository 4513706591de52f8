"""Convert the public VGG-Face release to the ``.npz`` that
``affect_tf.models.cnn_rnn.backbones.load_vgg_face_weights`` reads (conv layers only).

Inputs (download them yourself; nothing is fetched here):
* the MatConvNet release ``vgg_face.mat`` (Oxford VGG, "vgg_face_matconvnet"): layers named
  ``conv1_1`` ... ``conv5_3`` with ``weights = {kernel (3, 3, in, out), bias (out,)}``; or
* a Keras/HDF5 VGG-Face file (e.g. a ``vggface`` VGG16 ``.h5``) whose groups are named
  ``conv1_1`` ... ``conv5_3`` holding a kernel (3, 3, in, out) and a bias.

    python tools/convert_vgg_face.py vgg_face.mat vgg_face_convs.npz

Output: ``<layer>/kernel`` and ``<layer>/bias`` for the 13 convs. The fc layers are not converted:
at 96x96 the first FC takes pool5 (3x3x512) plus the landmarks, not the release's 7x7x512 input.
The release's images are RGB in 0..255 minus a mean; our crops are in [-1, 1], so fine-tune.
"""
from __future__ import annotations

import sys

import numpy as np

CONVS = tuple(f"conv{b}_{i}" for b, n in zip(range(1, 6), (2, 2, 3, 3, 3)) for i in range(1, n + 1))


def from_mat(path):
    from scipy.io import loadmat

    net = loadmat(path, squeeze_me=True, struct_as_record=False)
    layers = net["layers"] if "layers" in net else net["net"].layers
    out = {}
    for layer in np.atleast_1d(layers):
        name = str(getattr(layer, "name", ""))
        if name in CONVS:
            kernel, bias = layer.weights
            out[f"{name}/kernel"] = np.asarray(kernel, "float32").reshape(3, 3, -1, np.size(bias))
            out[f"{name}/bias"] = np.asarray(bias, "float32").ravel()
    return out


def from_h5(path):
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                layer = next((c for c in CONVS if f"/{c}/" in f"/{name}/"), None)
                if layer:
                    key = "kernel" if obj.ndim == 4 else "bias"
                    out[f"{layer}/{key}"] = np.asarray(obj, "float32")
        f.visititems(visit)
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        raise SystemExit("usage: convert_vgg_face.py SOURCE(.mat|.h5) OUT.npz")
    source, target = argv
    weights = from_mat(source) if source.endswith(".mat") else from_h5(source)
    missing = [c for c in CONVS if f"{c}/kernel" not in weights]
    if missing:
        raise SystemExit(f"{source}: no weights found for {missing}")
    np.savez(target, **weights)
    print(f"wrote {len(weights)} arrays to {target}")


if __name__ == "__main__":
    main()
