#!/usr/bin/python3
"""Writes book-scaler/model.onnx: the book's StandardScaler as an ONNX graph.

    /usr/bin/python3 examples/pipelines/book/build_scaler.py [model-scaler.json]

Reads the scaler's numbers ({"mean": [7 numbers], "scale": [7 numbers]}; default: the
model-scaler.json beside this script) and writes, with onnx.helper (Debian's python3-onnx):

    float_input float32 [N,7] -> Sub(mean) -> Div(scale) -> scaled float32 [N,7]

the transform the book's service should have applied (it re-fitted the scaler on every request).
"""
import sys

sys.dont_write_bytecode = True

import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "model-scaler.json")
    with open(source) as f:
        scaler = json.load(f)
    mean = np.array(scaler["mean"], dtype=np.float32).reshape(1, -1)
    scale = np.array(scaler["scale"], dtype=np.float32).reshape(1, -1)
    width = mean.shape[1]
    if scale.shape[1] != width or np.any(scale == 0):
        sys.exit(f"{source}: mean and scale must have the same length and scale no zero")
    graph = helper.make_graph(
        [helper.make_node("Sub", ["float_input", "mean"], ["centred"], name="centre"),
         helper.make_node("Div", ["centred", "scale"], ["scaled"], name="scale")],
        "book_scaler",
        inputs=[helper.make_tensor_value_info("float_input", TensorProto.FLOAT, ["N", width])],
        outputs=[helper.make_tensor_value_info("scaled", TensorProto.FLOAT, ["N", width])],
        initializer=[numpy_helper.from_array(mean, "mean"), numpy_helper.from_array(scale, "scale")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8,
                              producer_name="modelserve-examples", producer_version="1.0.0",
                              doc_string="The book's StandardScaler: (x - mean) / scale per column.")
    onnx.checker.check_model(model)
    out = os.path.join(HERE, "book-scaler", "model.onnx")
    with open(out, "wb") as f:
        f.write(model.SerializeToString())
    print(f"wrote {out} ({width} columns) from {source}")


if __name__ == "__main__":
    main()
