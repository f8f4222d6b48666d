#!/usr/bin/env bash
# Checks pow_host's solutions with Bittensor's own code: bittensor 11.3.0 (v1,
# pow_registration.registration_seal) and 10.2.1 (legacy, _create_seal_hash), each in its own
# virtualenv (they conflict). Usage: python/check-bittensor.sh POW_HOST_VENV [WORK_DIR]
# POW_HOST_VENV is a virtualenv with pow_host installed (python/run-tests.sh makes one).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pow_venv="$1"
work="${2:-$here/../target/bittensor-venvs}"
mkdir -p "$work"
"$pow_venv/bin/python" "$here/tests/solutions_for_bittensor.py" "$work/solutions.json"
for version in 11.3.0 10.2.1; do
  venv="$work/bittensor-$version"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import bittensor" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "bittensor==$version"
  fi
  "$venv/bin/python" "$here/tests/check_with_bittensor.py" "$work/solutions.json"
done
