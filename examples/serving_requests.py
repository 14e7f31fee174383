"""Serving attributions: export, load, and the requests TF Serving receives.

Title: Predictions and corrected maps from TF Serving
Description: export a trained model as a SavedModel whose signatures return predictions,
raw and corrected saliency, integrated gradients and angles; load it back and call the
signatures; then build the REST (JSON) and gRPC (`PredictRequest` protobuf, from
`tensorflow-serving-api`) request bodies a client sends, parse them as the server would, and
check that answering them through the loaded SavedModel gives the package's own maps. No
server is needed to run this.

What you will learn:
- `ks.export_saved_model(model, path)` (or `keras-simplex export`) and the signatures it writes;
- a REST body `{"signature_name": ..., "inputs": {"sequences": ...}}` and a gRPC
  `PredictRequest` with `model_spec.signature_name` and a `sequences` tensor proto;
- `tf.make_tensor_proto` / `tf.make_ndarray` turn arrays into request tensors and back.

Run (needs the `serving` extra: pip install 'keras_simplex[serving]'):

    python examples/serving_requests.py [--output-dir outputs/examples/serving] [--quick]
"""

import argparse
import json
import os

import numpy as np
import tensorflow as tf

import keras_simplex as ks
from keras_simplex.demo import train_demo_model
from keras_simplex.extras import require


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default="outputs/examples/serving")
    parser.add_argument("--sequences", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="small data, 1 epoch (for tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sequences, args.epochs = 1000, 1
    predict_pb2 = require("tensorflow_serving.apis.predict_pb2", "serving", "gRPC request protos")

    model, data, auroc = train_demo_model(args.sequences, args.epochs, verbose=0)
    x = data.x[data.splits["test"]][:4]

    # 1. Export: one version folder per model version, as TF Serving expects.
    export_dir = os.path.join(args.output_dir, "mymodel", "1")
    ks.export_saved_model(model, export_dir, logits=True, ig_steps=10)
    loaded = tf.saved_model.load(export_dir)
    print(f"exported to {export_dir}; signatures: {sorted(loaded.signatures)}")

    # 2. The REST body a client POSTs to /v1/models/mymodel:predict ...
    body = json.dumps({"signature_name": "corrected_saliency", "inputs": {"sequences": x.tolist()}})
    with open(os.path.join(args.output_dir, "rest_request.json"), "w") as f:
        f.write(body)
    # ... and what the server does with it: the named signature on the decoded inputs.
    request = json.loads(body)
    rest_outputs = loaded.signatures[request["signature_name"]](
        sequences=tf.constant(request["inputs"]["sequences"], tf.float32))
    rest_response = {"outputs": {k: v.numpy().tolist() for k, v in rest_outputs.items()}}

    # 3. The gRPC request (tensorflow_serving.apis.PredictionService/Predict), serialized as
    # it travels, then parsed back as the server parses it.
    grpc_request = predict_pb2.PredictRequest()
    grpc_request.model_spec.name = "mymodel"
    grpc_request.model_spec.signature_name = "angles"
    grpc_request.inputs["sequences"].CopyFrom(tf.make_tensor_proto(x, dtype=tf.float32))
    wire = grpc_request.SerializeToString()
    with open(os.path.join(args.output_dir, "grpc_request.pb"), "wb") as f:
        f.write(wire)
    received = predict_pb2.PredictRequest.FromString(wire)
    sequences = tf.make_ndarray(received.inputs["sequences"])
    grpc_outputs = loaded.signatures[received.model_spec.signature_name](sequences=tf.constant(sequences))

    # 4. The served maps are the package's maps.
    expected = ks.Explainer(model, logits=True).saliency(x)
    served = np.asarray(rest_response["outputs"]["corrected_saliency"], np.float32)
    saliency_error = float(np.abs(served - expected.corrected).max())
    angle_error = float(np.abs(grpc_outputs["angles"].numpy() - expected.angles).max())
    print(f"REST corrected_saliency: {served.shape}, max difference to ks.Explainer {saliency_error:.2e}")
    print(f"gRPC angles ({len(wire)} bytes on the wire): {grpc_outputs['angles'].shape}, "
          f"max difference {angle_error:.2e} deg")
    assert saliency_error < 1e-4 and angle_error < 1e-2, "the served maps must equal the package's"
    return {"saliency_error": saliency_error, "angle_error": angle_error}


if __name__ == "__main__":
    main()
