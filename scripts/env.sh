#!/usr/bin/env bash
# Create (or reuse) .venv-<backend> with fmwidget installed editable for one Keras backend.
# Usage: scripts/env.sh tensorflow|jax|torch [EXTRAS]   (prints the venv's python path last)
#   EXTRAS: comma-separated pyproject extras, default "test,browser,notebooks,bench,ray"
set -euo pipefail
backend=${1:?usage: scripts/env.sh tensorflow|jax|torch}
root=$(cd "$(dirname "$0")/.." && pwd)
extras=${2:-test,browser,notebooks,bench,ray}
venv="$root/.venv-$backend"
case "$backend" in
  tensorflow|jax|torch) ;;
  *) echo "unknown backend '$backend' (expected tensorflow, jax or torch)" >&2; exit 2 ;;
esac
for tool in python3 node npm; do
  command -v "$tool" >/dev/null || { echo "missing prerequisite: $tool" >&2; exit 1; }
done
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
fi
stamp="$venv/.fmwidget-installed-${extras//,/-}"
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ] || [ "$root/package.json" -nt "$stamp" ]; then
  # The editable install runs `npm install && npm run build` (hatch-jupyter-builder).
  "$venv/bin/python" -m pip install -q -e "$root[$backend,$extras]" >&2
  touch "$stamp"
fi
# The bundle is built on install; rebuild if the TypeScript changed since.
if [ ! -f "$root/fmwidget/static/widget.js" ] || \
   [ -n "$(find "$root/js" -newer "$root/fmwidget/static/widget.js" -name '*.ts' -print -quit)" ]; then
  (cd "$root" && { [ -d node_modules ] || npm ci --no-audit --no-fund >&2; } && npm run -s build >&2)
fi
echo "$venv/bin/python"
