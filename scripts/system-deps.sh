#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real (Chromium for the Swagger UI test,
# Prometheus for the scrape test, nginx for the scale-out check, XGBoost (and numpy) to train the models
# the converter is checked against (its scikit-learn API, so python3-sklearn too) and for the README's scaler export, Python gRPC for the OIP client
# test, python3-onnx for the pipeline examples' book scaler,
# mosquitto for MQTT), when missing. Runs as `pretest`.
# `system-deps.sh container`: what `npm run test:container` drives instead (the Docker engine, a
# local registry, Compose v1, debootstrap for the offline base image, nginx in front of Swarm).
set -euo pipefail
packages=(chromium prometheus nginx-light python3-numpy python3-sklearn python3-xgboost python3-grpcio python3-grpc-tools python3-onnx mosquitto)
[ "${1:-}" = container ] && packages=(docker.io docker-registry docker-compose debootstrap nginx-light)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
  echo "system-deps: missing Debian packages: ${missing[*]} (install them: apt-get install -y ${missing[*]})" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
