"""What both examples' train.py share: the parity run through onnxruntime-node and the writing of
model.onnx, parity.json and testset.json next to the model."""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_parity(here, rows, proba, label):
    """Runs the exported model in `here` on `rows` with node examples/parity.mjs; its JSON verdict."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"rows": rows, "expected": {"probabilities": proba.tolist(), "label": label.tolist()}}, f)
        path = f.name
    try:
        p = subprocess.run(["node", os.path.join(REPO, "examples", "parity.mjs"), here, path],
                           capture_output=True, text=True, cwd=REPO)
    finally:
        os.unlink(path)
    if not p.stdout.strip():
        sys.exit("parity.mjs failed:\n" + p.stderr)
    return json.loads(p.stdout)


def write_model(here, model_proto):
    """Writes model.onnx; returns its bytes (for the sha256 recorded in parity.json)."""
    data = model_proto.SerializeToString()
    with open(os.path.join(here, "model.onnx"), "wb") as f:
        f.write(data)
    return data


def model_sha256(data):
    return hashlib.sha256(data).hexdigest()


def write_records(here, parity, testset):
    """Writes parity.json and testset.json, prints the parity record, and fails the run on a mismatch."""
    with open(os.path.join(here, "parity.json"), "w") as f:
        json.dump(parity, f, indent=2)
        f.write("\n")
    with open(os.path.join(here, "testset.json"), "w") as f:
        json.dump(testset, f)
        f.write("\n")


def finish(parity, result):
    print(json.dumps(parity, indent=2))
    if not result["ok"]:
        sys.exit("PARITY FAILED: " + json.dumps(result))
