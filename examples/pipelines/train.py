#!/usr/bin/python3
"""Trains the second models of the pipeline examples (examples/pipelines/):

    /usr/bin/python3 examples/pipelines/train.py

- weather-gb/model.onnx: gradient-boosted trees on the same synthetic weather data as
  examples/weather (same generator, seeds and split), member of the `weather-ensemble` pipeline
  beside the weather SVM. float_input float32 [N,7] -> TreeEnsembleClassifier (ai.onnx.ml) ->
  label int64 [N], probabilities float32 [N,2].
- loan-rural/model.onnx: the loan example's pipeline (OrdinalEncoder + GradientBoostingClassifier)
  trained on the rural applications only (UrbanRural = 2); the `loan-by-area` switch sends rural
  applications to it and every other one to the loan example's model.

Same rules as the other examples: only Debian's python3-sklearn, python3-numpy and python3-onnx;
the ONNX graphs are written with onnx.helper (the loan exporter is reused); parity with
onnxruntime-node is checked on held-out rows (node examples/parity.mjs) and written to each
folder's parity.json and testset.json; the run exits non-zero on a mismatch. Deterministic.
"""
import sys

sys.dont_write_bytecode = True  # keep the example folder free of __pycache__

import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper
from sklearn.ensemble import GradientBoostingClassifier

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.dirname(HERE)
sys.path.insert(0, EXAMPLES)
sys.path.insert(0, os.path.join(EXAMPLES, "loan"))
from common import model_sha256, run_parity  # noqa: E402
import train as loan_train  # noqa: E402  (examples/loan/train.py: its exporter and tree attributes)
from generate import generate as generate_loan  # noqa: E402  (examples/loan/generate.py)

sys.path.insert(0, os.path.join(EXAMPLES, "weather"))
import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location("weather_generate", os.path.join(EXAMPLES, "weather", "generate.py"))
weather_generate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(weather_generate)

# The weather example's split (examples/weather/train.py), so both members see the same data.
W_TRAIN, W_HELD, W_SEED = 4000, 2000, 20240601
# The loan example's data (examples/loan/train.py).
L_TRAIN, L_HELD, L_SEED = 20000, 5000, 20240602
N_TESTSET = 400


def write(folder, model_proto, parity_extra, rows, proba, label):
    here = os.path.join(HERE, folder)
    data = model_proto.SerializeToString()
    with open(os.path.join(here, "model.onnx"), "wb") as f:
        f.write(data)
    result = run_parity(here, rows, proba, label)
    parity = {
        "checked_with": "onnxruntime-node via examples/parity.mjs (held-out synthetic rows)",
        "rows_checked": result["rows"],
        "max_abs_diff": result["max_abs_diff"],
        "tolerance": result["tolerance"],
        "label_agreement": result["label_agreement"],
        **parity_extra,
        "model_sha256": model_sha256(data),
    }
    with open(os.path.join(here, "parity.json"), "w") as f:
        json.dump(parity, f, indent=2)
        f.write("\n")
    with open(os.path.join(here, "testset.json"), "w") as f:
        json.dump({"description": "Held-out synthetic rows with scikit-learn's predict_proba; written by "
                                  "examples/pipelines/train.py.",
                   "rows": rows[:N_TESTSET],
                   "expected": {"probabilities": proba[:N_TESTSET].tolist(), "label": label[:N_TESTSET].tolist()}}, f)
        f.write("\n")
    print(folder, json.dumps(parity))
    return result["ok"]


def floor32(x):
    """The largest float32 <= x: sklearn compares float32 features with float64 thresholds, so
    x <= t holds exactly when x <= floor32(t); rounding t to the nearest float32 instead can flip
    a comparison when a feature value equals the rounded threshold."""
    f = np.float32(x)
    return float(f if f <= x else np.nextafter(f, np.float32(-np.inf)))


def tree_attributes(gb):
    att = loan_train.tree_nodes(gb)
    i = 0
    for est in gb.estimators_[:, 0]:
        tree = est.tree_
        for node in range(tree.node_count):
            if tree.children_left[node] != -1:
                att["nodes_values"][i] = floor32(tree.threshold[node])
            i += 1
    return att


def weather_gb():
    X, y = weather_generate.generate(W_TRAIN + W_HELD, W_SEED)
    X32 = X.astype(np.float32).astype(np.float64)  # what the server feeds: float32
    gb = GradientBoostingClassifier(n_estimators=100, max_depth=3, learning_rate=0.1, random_state=0)
    gb.fit(X32[:W_TRAIN], y[:W_TRAIN])
    base = float(gb._raw_predict_init(np.zeros((1, 7), dtype=np.float32))[0, 0])
    nodes = [
        helper.make_node("TreeEnsembleClassifier", ["float_input"], ["label", "probabilities"], domain="ai.onnx.ml",
                         name="gbt", classlabels_int64s=[0, 1], base_values=[float(np.float32(base))],
                         post_transform="LOGISTIC", **tree_attributes(gb)),
    ]
    graph = helper.make_graph(
        nodes, "weather_gb",
        inputs=[helper.make_tensor_value_info("float_input", TensorProto.FLOAT, ["N", 7])],
        outputs=[helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
                 helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        doc_string="Columns of float_input: " + ", ".join(weather_generate.COLUMNS) + " (raw units).",
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 3)],
                          producer_name="modelserve-examples", producer_version="1.0.0", ir_version=8,
                          doc_string="modelserve pipeline example `weather-gb`: rain in the next hour (synthetic data).")
    onnx.checker.check_model(m)
    held = X32[W_TRAIN:]
    proba = gb.predict_proba(held)
    label = (proba[:, 1] > proba[:, 0]).astype(int)
    rows = []
    for r in X[W_TRAIN:]:
        row = {c: float(v) for c, v in zip(weather_generate.COLUMNS, r)}
        row["wind_bearing_degree"] = int(row["wind_bearing_degree"])
        row["current_weather_condition"] = int(row["current_weather_condition"])
        rows.append(row)
    extra = {"heldout_accuracy": round(float((label == y[W_TRAIN:]).mean()), 4), "trees": int(gb.n_estimators_)}
    return write("weather-gb", m, extra, rows, proba, label)


def loan_rural():
    rows, y = generate_loan(L_TRAIN + L_HELD, L_SEED)
    rural = [i for i in range(L_TRAIN) if rows[i]["UrbanRural"] == 2]
    model = loan_train.train([rows[i] for i in rural], y[rural])
    m = loan_train.to_onnx(model)
    m.doc_string = "modelserve pipeline example `loan-rural`: probability of default of rural applications (synthetic data)."
    held_idx = [i for i in range(L_TRAIN, L_TRAIN + L_HELD) if rows[i]["UrbanRural"] == 2]
    held = [rows[i] for i in held_idx]
    proba, label = loan_train.expected_of(model, held)
    extra = {"trained_on_rows": len(rural), "heldout_accuracy": round(float((label == y[held_idx]).mean()), 4),
             "trees": int(model.named_steps["gb"].n_estimators_)}
    return write("loan-rural", m, extra, held, proba, label)


def main():
    ok = weather_gb() and loan_rural()
    if not ok:
        sys.exit("PARITY FAILED")


if __name__ == "__main__":
    main()
