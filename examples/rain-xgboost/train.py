#!/usr/bin/python3
"""Trains the `rain-xgboost` example: XGBoost on the weather example's synthetic data, with sensor
gaps, saved in XGBoost's own JSON format and served by modelserve as it is (`format: xgboost`).

    /usr/bin/python3 examples/rain-xgboost/train.py

Uses only Debian's python3-xgboost and python3-numpy. The data come from examples/weather/generate.py
(a different seed); then the visibility sensor is down for 8% of the rows and the anemometer for 4%:
those cells are missing (NaN), and XGBoost learns a default direction for them at every split.
A client leaves such a field out of its request (`required: false` with no default in model.yaml).

Writes model.json (booster.save_model, with the feature names), testset.json (400 held-out rows
as request objects, missing cells left out, with XGBoost's predict_proba and predict) and
samples/expected.json (XGBoost's answer to each samples/valid.json body). test/xgboost/ serves
model.json with a real server and checks every answer against testset.json within 1e-5.
Deterministic (fixed seeds, one thread): two runs write byte-identical model.json.
"""
import sys

sys.dont_write_bytecode = True  # keep the example folder free of __pycache__

import json
import os

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "weather"))
from generate import COLUMNS, generate  # noqa: E402

N_TRAIN = 4000
N_HELDOUT = 2000
N_TESTSET = 400
DATA_SEED = 20240602
GAPS = {"visibility_km": 0.08, "wind_speed_kmph": 0.04}


def with_gaps(X, seed):
    rng = np.random.default_rng(seed)
    X = X.astype(np.float32)
    for column, share in GAPS.items():
        i = COLUMNS.index(column)
        X[rng.uniform(size=len(X)) < share, i] = np.nan
    return X


def request_of(row):
    """A request object as a client sends it: integers where the field is whole, missing cells left out."""
    out = {}
    for c, v in zip(COLUMNS, row):
        if np.isnan(v):
            continue
        out[c] = int(v) if c in ("wind_bearing_degree", "current_weather_condition") else float(v)
    return out


def main():
    X, y = generate(N_TRAIN + N_HELDOUT, DATA_SEED)
    X = with_gaps(X, DATA_SEED + 1)
    model = xgb.XGBClassifier(objective="binary:logistic", n_estimators=120, max_depth=4, learning_rate=0.1,
                              random_state=0, n_jobs=1, tree_method="hist")
    model.fit(X[:N_TRAIN], y[:N_TRAIN])
    booster = model.get_booster()
    booster.feature_names = list(COLUMNS)
    booster.save_model(os.path.join(HERE, "model.json"))

    held = X[N_TRAIN:]
    proba = model.predict_proba(held)
    label = model.predict(held)
    testset = {
        "description": "Held-out synthetic rows (first %d; missing sensor readings left out) with XGBoost %s's "
                       "predict_proba and predict. Written by train.py." % (N_TESTSET, xgb.__version__),
        "rows": [request_of(r) for r in held[:N_TESTSET]],
        "expected": {"probabilities": proba[:N_TESTSET].astype(float).tolist(), "label": label[:N_TESTSET].astype(int).tolist()},
    }
    with open(os.path.join(HERE, "testset.json"), "w") as f:
        json.dump(testset, f)
        f.write("\n")

    with open(os.path.join(HERE, "samples", "valid.json")) as f:
        bodies = json.load(f)
    B = np.array([[b.get(c, np.nan) for c in COLUMNS] for b in bodies], dtype=np.float32)
    p = model.predict_proba(B)[:, 1]
    out = [{"prediction": "Rain" if v > 0.5 else "No_Rain", "rain_probability": float(v)} for v in p]
    with open(os.path.join(HERE, "samples", "expected.json"), "w") as f:
        f.write("[\n" + ",\n".join("  " + json.dumps(o) for o in out) + "\n]\n")

    print(json.dumps({
        "xgboost": xgb.__version__,
        "trees": len(booster.get_dump()),
        "heldout_rows": len(held),
        "heldout_rows_with_a_gap": int(np.isnan(held).any(axis=1).sum()),
        "heldout_accuracy": round(float((label == y[N_TRAIN:]).mean()), 4),
    }, indent=2))


if __name__ == "__main__":
    main()
