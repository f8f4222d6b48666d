#!/usr/bin/env bash
# Builds the pow_host wheel into a fresh virtualenv (pip install ./python: maturin, PyO3 abi3,
# the bundled plugins) and runs its pytest suite. Usage: python/run-tests.sh [VENV_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-$here/../target/python-venv}"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip >/dev/null
"$venv/bin/pip" install -q pytest
"$venv/bin/pip" install -q "$here"
cd "$here/tests"
"$venv/bin/python" -m pytest -q -p no:cacheprovider .
