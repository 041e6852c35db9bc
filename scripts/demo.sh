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
  "$py" -m jupyter nbconvert --to notebook --execute "$root/notebooks/demo.ipynb" --output "$out"
  echo "executed: $out"
else
  exec "$py" -m jupyter lab "$root/notebooks/demo.ipynb"
fi
