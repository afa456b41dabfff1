#!/usr/bin/python3
"""Trains the `loan` example and exports examples/loan/model.onnx.

    /usr/bin/python3 examples/loan/train.py

Uses only Debian's python3-sklearn, python3-numpy and python3-onnx (no skl2onnx): the ONNX graph
is written by hand with onnx.helper and ai.onnx.ml (opset 3) operators:

    one input per field, [N,1]: int64 (Term, NoEmp, CreateJob, RetainedJob, UrbanRural),
                                float32 (longitude, latitude, GrAppv, SBA_Appv), string (the rest)
      string  -> LabelEncoder (keys = the categories seen in training, values = their codes 0..K-1,
                 default_float -1 for anything else: an unseen city is a valid input, never an error)
      int64   -> Cast to float
      -> Concat (axis 1) -> [N,18] float
      -> TreeEnsembleClassifier: the GradientBoostingClassifier's trees, learning rate folded into
         the leaf weights, base_values = the init estimator's log-odds prior, post_transform LOGISTIC
           -> label int64 [N] (1 = default), probabilities float32 [N,2] = [P(repaid), P(default)]

The scikit-learn side is the same pipeline: ColumnTransformer(OrdinalEncoder(handle_unknown=
"use_encoded_value", unknown_value=-1) on the categoricals, numbers passed through) followed by
GradientBoostingClassifier. Parity with onnxruntime-node is checked (node examples/parity.mjs) on
held-out rows, 10 % of which carry categories never seen in training, and written to
parity.json; testset.json keeps 400 of those rows with sklearn's probabilities, and
samples/expected.json holds sklearn's answer to each samples/valid.json body. Deterministic:
fixed seeds everywhere, so two runs write byte-identical model.onnx.
"""
import sys

sys.dont_write_bytecode = True  # keep the example folder free of __pycache__

import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common import finish, model_sha256, run_parity, write_model, write_records  # noqa: E402
from generate import CATEGORICAL, FIELDS, INTEGER_FIELDS, generate

HERE = os.path.dirname(os.path.abspath(__file__))
N_TRAIN = 20000
N_HELDOUT = 5000
N_TESTSET = 400
DATA_SEED = 20240602
MODEL_SEED = 0
# Values never produced by generate.py, swapped into some held-out rows to exercise the default.
UNSEEN = {"City": "SPRINGFIELD GARDENS", "State": "PR", "Bank": "FIRST COMMUNITY CREDIT UNION",
          "BankState": "GU", "FranchiseCode": "99999", "naics_first_two": "99", "RevLineCr": "C",
          "is_new": "Unknown", "same_state": "unknown"}


def table(rows):
    """Rows (dicts) -> object array in FIELDS order; numbers go through float32 like the server's tensors."""
    out = np.empty((len(rows), len(FIELDS)), dtype=object)
    for i, r in enumerate(rows):
        for j, f in enumerate(FIELDS):
            v = r[f]
            out[i, j] = v if isinstance(v, str) or f in INTEGER_FIELDS else float(np.float32(v))
    return out


def train(rows, y):
    cat_idx = [FIELDS.index(c) for c in CATEGORICAL]
    pre = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, dtype=np.float64), cat_idx)],
        remainder="passthrough",
    )
    gb = GradientBoostingClassifier(n_estimators=120, max_depth=3, learning_rate=0.1, random_state=MODEL_SEED)
    model = Pipeline([("pre", pre), ("gb", gb)])
    model.fit(table(rows), y)
    return model


def feature_order(pre):
    """The ColumnTransformer's output columns, as field names, in order."""
    names = []
    for name, _trans, cols in pre.transformers_:
        if name == "remainder" and _trans == "drop":
            continue
        names += [FIELDS[c] for c in cols]
    return names


def tree_nodes(gb):
    """TreeEnsembleClassifier attributes for a binary GradientBoostingClassifier."""
    att = {k: [] for k in ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
                           "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
                           "class_treeids", "class_nodeids", "class_ids", "class_weights"]}
    lr = gb.learning_rate
    for t, est in enumerate(gb.estimators_[:, 0]):
        tree = est.tree_
        for node in range(tree.node_count):
            leaf = tree.children_left[node] == -1
            att["nodes_treeids"].append(t)
            att["nodes_nodeids"].append(node)
            att["nodes_missing_value_tracks_true"].append(0)
            if leaf:
                att["nodes_featureids"].append(0)
                att["nodes_modes"].append("LEAF")
                att["nodes_values"].append(0.0)
                att["nodes_truenodeids"].append(0)
                att["nodes_falsenodeids"].append(0)
                att["class_treeids"].append(t)
                att["class_nodeids"].append(node)
                att["class_ids"].append(0)
                att["class_weights"].append(float(np.float32(lr * tree.value[node, 0, 0])))
            else:
                # sklearn goes left when x <= threshold: BRANCH_LEQ with the left child as "true".
                att["nodes_featureids"].append(int(tree.feature[node]))
                att["nodes_modes"].append("BRANCH_LEQ")
                att["nodes_values"].append(float(np.float32(tree.threshold[node])))
                att["nodes_truenodeids"].append(int(tree.children_left[node]))
                att["nodes_falsenodeids"].append(int(tree.children_right[node]))
    return att


def to_onnx(model):
    pre, gb = model.named_steps["pre"], model.named_steps["gb"]
    assert list(gb.classes_) == [0, 1], gb.classes_
    encoder = pre.named_transformers_["cat"]
    categories = dict(zip(CATEGORICAL, encoder.categories_))
    order = feature_order(pre)

    inputs, nodes, columns = [], [], []
    for f in FIELDS:
        if f in categories:
            inputs.append(helper.make_tensor_value_info(f, TensorProto.STRING, ["N", 1]))
            keys = [str(k) for k in categories[f]]
            nodes.append(helper.make_node(
                "LabelEncoder", [f], [f + "_code"], domain="ai.onnx.ml", name="encode_" + f,
                keys_strings=keys, values_floats=[float(i) for i in range(len(keys))], default_float=-1.0))
        elif f in INTEGER_FIELDS:
            inputs.append(helper.make_tensor_value_info(f, TensorProto.INT64, ["N", 1]))
            nodes.append(helper.make_node("Cast", [f], [f + "_code"], name="cast_" + f, to=TensorProto.FLOAT))
        else:
            inputs.append(helper.make_tensor_value_info(f, TensorProto.FLOAT, ["N", 1]))
    for f in order:
        columns.append(f + "_code" if (f in categories or f in INTEGER_FIELDS) else f)
    nodes.append(helper.make_node("Concat", columns, ["features"], name="concat", axis=1))

    # The init estimator (class prior) gives the starting log-odds; the same for every row.
    base = float(gb._raw_predict_init(np.zeros((1, len(order)), dtype=np.float32))[0, 0])
    nodes.append(helper.make_node(
        "TreeEnsembleClassifier", ["features"], ["label", "probabilities"], domain="ai.onnx.ml", name="gbt",
        classlabels_int64s=[0, 1], base_values=[float(np.float32(base))], post_transform="LOGISTIC",
        **tree_nodes(gb)))
    graph = helper.make_graph(
        nodes, "loan", inputs=inputs,
        outputs=[
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]),
        ],
        doc_string="Feature order after Concat: " + ", ".join(order),
    )
    m = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 3)],
        producer_name="modelserve-examples",
        producer_version="1.0.0",
        doc_string="modelserve example `loan`: probability of default (synthetic training data).",
        ir_version=8,
    )
    onnx.checker.check_model(m)
    return m


def heldout_rows(rows):
    """Every 10th held-out row gets one or more categories never seen in training."""
    out = []
    keys = list(UNSEEN)
    for i, r in enumerate(rows):
        r = dict(r)
        if i % 10 == 3:
            for k in keys[(i // 10) % len(keys):][:1 + (i // 10) % 3]:
                r[k] = UNSEEN[k]
        out.append(r)
    return out


def expected_of(model, rows):
    proba = model.predict_proba(table(rows))
    label = (proba[:, 1] > proba[:, 0]).astype(int)
    return proba, label



def lax(field, v):
    """pydantic-1 lax parsing, as the server does: "120" -> 120 for integers, true -> "True" and
    0 -> "0" for strings."""
    if field in INTEGER_FIELDS:
        return int(float(v)) if not isinstance(v, bool) else int(v)
    if field in CATEGORICAL:
        if isinstance(v, bool):
            return "True" if v else "False"
        return str(v)
    return float(v) if not isinstance(v, bool) else float(v)


def write_expected(model):
    """samples/expected.json: the response the server should give to each samples/valid.json body."""
    with open(os.path.join(HERE, "samples", "valid.json")) as f:
        bodies = json.load(f)
    rows = [{k: lax(k, b[k]) for k in FIELDS} for b in bodies]
    proba, _ = expected_of(model, rows)
    with open(os.path.join(HERE, "samples", "expected.json"), "w") as f:
        f.write("[\n" + ",\n".join("  " + json.dumps({"default_proba": float(p[1])}) for p in proba) + "\n]\n")


def main():
    rows, y = generate(N_TRAIN + N_HELDOUT, DATA_SEED)
    model = train(rows[:N_TRAIN], y[:N_TRAIN])
    data = write_model(HERE, to_onnx(model))

    held = heldout_rows(rows[N_TRAIN:])
    y_held = y[N_TRAIN:]
    proba, label = expected_of(model, held)
    result = run_parity(HERE, held, proba, label)
    auc_pairs = proba[:, 1]
    pos, neg = auc_pairs[y_held == 1], auc_pairs[y_held == 0]
    auc = float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    parity = {
        "checked_with": "onnxruntime-node via examples/parity.mjs (held-out synthetic rows)",
        "rows_checked": result["rows"],
        "rows_with_unseen_categories": sum(1 for r in held if any(r[k] == v for k, v in UNSEEN.items())),
        "max_abs_diff": result["max_abs_diff"],
        "tolerance": result["tolerance"],
        "label_agreement": result["label_agreement"],
        "heldout_accuracy": round(float((label == y_held).mean()), 4),
        "heldout_auc": round(auc, 4),
        "trees": int(model.named_steps["gb"].n_estimators_),
        "model_sha256": model_sha256(data),
    }
    testset = {
        "description": "Held-out synthetic rows (first %d; every 10th has categories never seen in training) with "
                       "scikit-learn's predict_proba; label = argmax (1 = default). Written by train.py." % N_TESTSET,
        "rows": held[:N_TESTSET],
        "expected": {"probabilities": proba[:N_TESTSET].tolist(), "label": label[:N_TESTSET].tolist()},
    }
    write_records(HERE, parity, testset)
    write_expected(model)
    finish(parity, result)


if __name__ == "__main__":
    main()
