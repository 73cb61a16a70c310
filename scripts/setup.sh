#!/usr/bin/env bash
# Set up everything s1lab and its tests need on a fresh Debian machine (idempotent):
# Debian packages for the tests' real peers (tshark, editcap/mergecap, socat, openssl, mosquitto;
# chromium and a font for the headless-browser check of the HTML report), a virtualenv in .venv,
# and the project installed editable with its dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in tshark:tshark editcap:wireshark-common mergecap:wireshark-common socat:socat \
    openssl:openssl chromium:chromium mosquitto:mosquitto; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need+=("$pkg")
done
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.s1lab-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi
