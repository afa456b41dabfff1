#!/usr/bin/python3
"""Trains the `weather` example and exports examples/weather/model.onnx.

    /usr/bin/python3 examples/weather/train.py

Uses only Debian's python3-sklearn, python3-numpy and python3-onnx (no skl2onnx): the ONNX graph
is written by hand with onnx.helper and ai.onnx.ml operators:

    float_input float32 [N,7]
      -> Scaler (ai.onnx.ml)              standard scaling inside the graph: (x - mean) * (1/std)
      -> SVMClassifier (ai.onnx.ml)       RBF kernel, Platt coefficients prob_a / prob_b
           -> probabilities float32 [N,2]  [P(no rain), P(rain)], as sklearn's predict_proba
      -> ArgMax(probabilities, axis 1)    -> label int64 [N]  (1 = Rain, 0 = No_Rain)

`label` is the class with the larger calibrated probability, so `prediction` always agrees with
`rain_probability` (Rain exactly when rain_probability > 0.5). See README.md for why this is not
SVMClassifier's own label output.

Then it checks parity with onnxruntime-node (node examples/parity.mjs) on the held-out rows and
writes parity.json, testset.json (a 400-row subset with sklearn's probabilities) and
samples/expected.json (sklearn's answer to each samples/valid.json body) and prints a summary. Deterministic: fixed seeds everywhere, so two runs write byte-identical model.onnx.
"""
import sys

sys.dont_write_bytecode = True  # keep the example folder free of __pycache__

import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common import finish, model_sha256, run_parity, write_model, write_records  # noqa: E402
from generate import COLUMNS, generate

HERE = os.path.dirname(os.path.abspath(__file__))
N_TRAIN = 4000
N_HELDOUT = 2000
N_TESTSET = 400
DATA_SEED = 20240601
MODEL_SEED = 0


def as_float32(X):
    """What the server feeds the model: each JSON number rounded to float32."""
    return X.astype(np.float32).astype(np.float64)


def train():
    X, y = generate(N_TRAIN + N_HELDOUT, DATA_SEED)
    X_train, y_train = X[:N_TRAIN], y[:N_TRAIN]
    X_held, y_held = X[N_TRAIN:], y[N_TRAIN:]
    model = Pipeline([
        ("scaler", StandardScaler()),
        ("svc", SVC(kernel="rbf", C=1.0, gamma="scale", probability=True, random_state=MODEL_SEED)),
    ])
    model.fit(as_float32(X_train), y_train)
    return model, X_held, y_held


def to_onnx(model):
    scaler, svc = model.named_steps["scaler"], model.named_steps["svc"]
    assert list(svc.classes_) == [0, 1], svc.classes_
    # libsvm's own convention (sklearn's private _dual_coef_ / _intercept_): the decision value
    #   f(x) = sum_i coef_i * K(x, sv_i) + intercept   is positive for classes_[0] (no rain),
    # and P(classes_[0]) = 1 / (1 + exp(probA * f + probB)). onnxruntime's SVMClassifier computes
    # f with `coefficients` and `rho` exactly like this, votes class 0 when f > 0, and applies
    # prob_a / prob_b the same way, so libsvm's numbers go in unchanged (verified by parity.mjs).
    coefficients = svc._dual_coef_.ravel()
    rho = svc._intercept_.ravel()
    gamma = svc._gamma
    nodes = [
        helper.make_node(
            "Scaler", ["float_input"], ["scaled"], domain="ai.onnx.ml", name="scaler",
            offset=scaler.mean_.astype(np.float32).tolist(),
            scale=(1.0 / scaler.scale_).astype(np.float32).tolist(),
        ),
        helper.make_node(
            "SVMClassifier", ["scaled"], ["svm_label", "probabilities"], domain="ai.onnx.ml", name="svc",
            classlabels_ints=[0, 1],
            kernel_type="RBF",
            kernel_params=[float(gamma), float(svc.coef0), float(svc.degree)],
            support_vectors=svc.support_vectors_.astype(np.float32).ravel().tolist(),
            vectors_per_class=[int(v) for v in svc.n_support_],
            coefficients=coefficients.astype(np.float32).tolist(),
            rho=rho.astype(np.float32).tolist(),
            prob_a=svc.probA_.astype(np.float32).tolist(),
            prob_b=svc.probB_.astype(np.float32).tolist(),
            post_transform="NONE",
        ),
        helper.make_node("ArgMax", ["probabilities"], ["label"], name="argmax", axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "weather",
        inputs=[helper.make_tensor_value_info("float_input", TensorProto.FLOAT, ["N", 7])],
        outputs=[
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]),
        ],
        doc_string="Columns of float_input: " + ", ".join(COLUMNS) + " (raw units; scaled in the graph).",
    )
    m = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 1)],
        producer_name="modelserve-examples",
        producer_version="1.0.0",
        doc_string="modelserve example `weather`: rain in the next hour (synthetic training data).",
        ir_version=8,
    )
    onnx.checker.check_model(m)
    return m


def rows_of(X):
    out = []
    for r in X:
        row = {c: float(v) for c, v in zip(COLUMNS, r)}
        row["wind_bearing_degree"] = int(row["wind_bearing_degree"])
        row["current_weather_condition"] = int(row["current_weather_condition"])
        out.append(row)
    return out


def expected_of(model, X):
    proba = model.predict_proba(as_float32(X))
    # label = the class with the larger probability (ties -> 0, like ArgMax's first-index rule)
    label = (proba[:, 1] > proba[:, 0]).astype(int)
    return proba, label



def lax_number(v):
    """pydantic-1 lax parsing of a number field, as the server does: "12.5" -> 12.5, true -> 1."""
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    return float(v)


def write_expected(model):
    """samples/expected.json: the response the server should give to each samples/valid.json body."""
    with open(os.path.join(HERE, "samples", "valid.json")) as f:
        bodies = json.load(f)
    X = np.array([[lax_number(b[c]) for c in COLUMNS] for b in bodies])
    proba, label = expected_of(model, X)
    out = [{"prediction": "Rain" if l == 1 else "No_Rain", "rain_probability": float(p[1])}
           for p, l in zip(proba, label)]
    with open(os.path.join(HERE, "samples", "expected.json"), "w") as f:
        f.write("[\n" + ",\n".join("  " + json.dumps(o) for o in out) + "\n]\n")


def main():
    model, X_held, y_held = train()
    data = write_model(HERE, to_onnx(model))

    proba, label = expected_of(model, X_held)
    rows = rows_of(X_held)
    result = run_parity(HERE, rows, proba, label)
    svc = model.named_steps["svc"]
    sk_predict = model.predict(as_float32(X_held))
    parity = {
        "checked_with": "onnxruntime-node via examples/parity.mjs (held-out synthetic rows)",
        "rows_checked": result["rows"],
        "max_abs_diff": result["max_abs_diff"],
        "tolerance": result["tolerance"],
        "label_agreement": result["label_agreement"],
        "sklearn_predict_vs_argmax_proba_disagreements": int((sk_predict != label).sum()),
        "heldout_accuracy": round(float((label == y_held).mean()), 4),
        "support_vectors": int(svc.support_vectors_.shape[0]),
        "model_sha256": model_sha256(data),
    }
    testset = {
        "description": "Held-out synthetic rows (first %d) with scikit-learn's predict_proba on the float32 "
                       "inputs; label = argmax of the probabilities (1 = Rain). Written by train.py." % N_TESTSET,
        "rows": rows[:N_TESTSET],
        "expected": {"probabilities": proba[:N_TESTSET].tolist(), "label": label[:N_TESTSET].tolist()},
    }
    write_records(HERE, parity, testset)
    write_expected(model)
    finish(parity, result)


if __name__ == "__main__":
    main()
