#!/usr/bin/env bash
# Set everything up and open the demo notebook in JupyterLab.
# Usage: scripts/demo.sh            (backend: $FMW_BACKEND, default jax)
#        scripts/demo.sh --execute  (run the notebook headless instead, print where it went)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
backend=${FMW_BACKEND:-jax}
py=$("$root/scripts/env.sh" "$backend")
export KERAS_BACKEND=$backend
if [ "${1:-}" = "--execute" ]; then
  out="${TMPDIR:-/tmp}/fmwidget-demo.ipynb"
  # the demo's last cell trains in a background task: wait for it before saving
  "$py" - "$root/notebooks/demo.ipynb" "$out" <<'EOF'
import sys

import nbformat
from nbclient import NotebookClient

nb = nbformat.read(sys.argv[1], as_version=4)
nb.cells.append(nbformat.v4.new_code_cell("await training  # headless run: wait for training"))
NotebookClient(nb, timeout=600, kernel_name="python3").execute()
nbformat.write(nb, sys.argv[2])
EOF
  echo "executed: $out"
else
  exec "$py" -m jupyter lab "$root/notebooks/demo.ipynb"
fi
