#!/usr/bin/env bash
# The whole test suite: TypeScript checks + unit tests, then pytest on each Keras backend.
# Browser tests (real Chromium, real JupyterLab), notebooks and the slow real-model sweeps
# run on the first backend only (Ray and the other hosts are installed there only).
# Usage: scripts/test.sh   (backends: $FMW_BACKENDS, default "tensorflow jax torch")
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
backends=${FMW_BACKENDS:-tensorflow jax torch}
export KERAS_HOME=${KERAS_HOME:-$(mktemp -d)}

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Chromium (Debian package) for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  [ -x /usr/bin/chromium ] || { echo "FAIL: /usr/bin/chromium is missing (apt-get install chromium)" >&2; exit 1; }
fi

first=1
status=0
for backend in $backends; do
  echo "== setting up $backend"
  if [ $first = 1 ]; then
    py=$(scripts/env.sh "$backend")
    echo "== TypeScript: typecheck, lint, unit tests"
    npm run -s check
    echo "== ruff"
    "$py" -m ruff check fmwidget tests benchmarks scripts
    "$py" -m ruff format --check fmwidget tests benchmarks scripts
    only=()
  else
    py=$(scripts/env.sh "$backend" test)
    only=(--ignore=tests/browser --ignore=tests/notebooks -m "not slow and not ray and not hosts")
  fi
  echo "== pytest on $backend"
  KERAS_BACKEND=$backend "$py" -m pytest -q -p no:cacheprovider --durations=15 "${only[@]}" || status=1
  first=0
done
echo "== benchmark smoke run (reports only; the full run is benchmarks/run.py)"
"$root/.venv-${backends%% *}/bin/python" benchmarks/run.py --smoke --backends "${backends// /,}" || status=1
exit $status
