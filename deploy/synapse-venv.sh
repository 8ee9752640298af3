#!/usr/bin/env bash
# Builds the Python venv with Synapse (matrix-synapse from PyPI) that the Matrix chat test
# (agent/tests/suite/chat_matrix.rs) starts as a real homeserver. A cache: rebuilt when missing or
# broken; `--rebuild` (or deleting the directory) starts over.
#
#   ./deploy/synapse-venv.sh [--rebuild]     # as root; OFFICEMESH_SYNAPSE_VENV moves it
#
# Needs python3 with the venv module (Debian: python3-venv; installed here when missing).
# A fresh install takes 20–65 s on a 2-core machine (measured: 19 s and 63 s).
set -euo pipefail
venv="${OFFICEMESH_SYNAPSE_VENV:-/var/cache/officemesh/synapse-venv}"
# Synapse's release line the test was written against; a newer 1.x keeps the same client API.
spec="matrix-synapse>=1.100,<2"

if [ "${1:-}" = "--rebuild" ]; then
  rm -rf "$venv"
fi
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import synapse" >/dev/null 2>&1 \
  && [ -x "$venv/bin/register_new_matrix_user" ]; then
  exit 0
fi
if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
  echo "==> installing python3-venv"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
fi
echo "==> building the Synapse venv in $venv (pip install $spec)"
start=$(date +%s)
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "$spec"
echo "==> Synapse $("$venv/bin/python" -c 'import synapse; print(synapse.__version__)') ready in $(( $(date +%s) - start )) s"
