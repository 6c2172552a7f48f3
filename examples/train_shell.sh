#!/usr/bin/env bash
# A command that reports without importing hpo: one "@hpo report" line per step on stdout.
#
#   hpo worker --study NAME -- bash examples/train_shell.sh
#
# The trial arrives in the environment (HPO_CONFIG is JSON; HPO_RESUME_FROM and
# HPO_RESOURCE bound the steps). The worker terminates the script when the
# coordinator answers stop, so it simply runs on until then. This toy "loss"
# uses the parameter x of a space like {"x": {"type": "float", "low": -3, "high": 3}}.
set -euo pipefail
x=$(python3 -c 'import json, os; print(json.loads(os.environ["HPO_CONFIG"])["x"])')
step=${HPO_RESUME_FROM%.*}
last=${HPO_RESOURCE%.*}
while (( step < last )); do
  step=$((step + 1))
  loss=$(python3 -c "print(($x - 1) ** 2 + 1 / $step)")
  echo "@hpo report resource=$step value=$loss"
done
