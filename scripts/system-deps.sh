#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real (Chromium for the Swagger UI test,
# Prometheus for the scrape test, nginx for the scale-out check, mosquitto for MQTT), when missing. Runs as `pretest`.
set -euo pipefail
packages=(chromium prometheus nginx-light mosquitto)
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
