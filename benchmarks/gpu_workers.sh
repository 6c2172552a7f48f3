#!/usr/bin/env bash
# Two `hpo worker`s, one per GPU (--gpus 0 and --gpus 1), run examples/pytorch_cnn.py for a
# bounded number of assignments against a fresh `hpo serve` on SQLite; prints the wall time,
# the trials completed and the device each trial trained on.
#
#   benchmarks/gpu_workers.sh                  # from anywhere; about 2-4 minutes
#   PYTHON=.venv/bin/python ASSIGNMENTS=6 R_MAX=9 benchmarks/gpu_workers.sh
#
# Needs hpo[server] and torch with CUDA; no network (the data ships with scikit-learn).
# Everything it writes goes to a temporary directory, printed at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
# Assignments per worker (hpo worker --max-trials): bounds the run whatever the study's size.
ASSIGNMENTS=${ASSIGNMENTS:-10}
R_MAX=${R_MAX:-9}
STUDY=cnn-digits-gpus
work=$(mktemp -d -t hpo-gpu-workers-XXXXXX)
workers=()

stop_all() {
    for pid in "${workers[@]}" "${SERVE_PID:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
}
trap stop_all EXIT

gpus=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())')
echo "python: $PYTHON; GPUs torch sees: $gpus; output in $work"
if [ "$gpus" -lt 2 ]; then
    echo "needs 2 GPUs (found $gpus)" >&2
    exit 2
fi
command -v nvidia-smi >/dev/null && nvidia-smi -L

# The coordinator prints its address on its first line: read it as soon as it is written.
coproc SERVE { exec "$PYTHON" -m hpo serve --db "sqlite:///$work/hpo.db" --port 0 2>"$work/serve.log"; }
if ! read -r -t 60 first_line <&"${SERVE[0]}"; then
    echo "hpo serve did not start:" >&2
    cat "$work/serve.log" >&2
    exit 1
fi
address=${first_line#*listening on }
address=${address%% *}
echo "coordinator: $address"

# The example's study, with a top of R_MAX epochs (rungs 1, 3, 9 with eta 3).
"$PYTHON" - "$work/spec.json" "$STUDY" "$R_MAX" <<'EOF'
import json
import sys

path, name, r_max = sys.argv[1], sys.argv[2], float(sys.argv[3])
spec = json.load(open("examples/pytorch_cnn.json"))
spec["name"] = name
spec["resource"]["r_max"] = r_max
json.dump(spec, open(path, "w"))
EOF
"$PYTHON" -m hpo study create --spec "$work/spec.json" -c "$address"

start=$(date +%s.%N)
for gpu in 0 1; do
    "$PYTHON" -m hpo worker -c "$address" --study "$STUDY" --gpus "$gpu" \
        --workdir "$work/trials" --max-trials "$ASSIGNMENTS" --quiet \
        -- "$PYTHON" examples/pytorch_cnn.py >"$work/worker-$gpu.log" 2>&1 &
    workers+=("$!")
done
status=0
for pid in "${workers[@]}"; do
    wait "$pid" || status=$?
done
end=$(date +%s.%N)
for gpu in 0 1; do
    echo "worker --gpus $gpu: $(grep 'worker done' "$work/worker-$gpu.log" || echo 'no summary')"
done

"$PYTHON" - "$address" "$STUDY" "$work/trials/$STUDY" "$start" "$end" <<'EOF'
import json
import re
import sys
from collections import Counter
from pathlib import Path

from hpo import Client

address, study, trials_dir, start, end = sys.argv[1:6]
with Client(address) as client:
    remote = client.get_study(study)
    trials = remote.trials(include_reports=True)
    best = remote.best()
print(f"wall time of the two workers: {float(end) - float(start):.1f} s")
print(f"trials: {len(trials)}; by state: {dict(Counter(t.state.value for t in trials))}")
if best is not None:
    print(f"best: trial {best.trial.number}, {best.value:.4f} at {best.resource:g} epochs")
print(f"{'trial':>5} {'state':>9} {'epochs':>6} {'pinned GPU':>10} {'device':>6} {'s/epoch':>7}")
pinned = re.compile(r"device (\S+) \(CUDA_VISIBLE_DEVICES=(\S+)\)")
on_gpu: Counter[str] = Counter()
for trial in trials:
    directory = Path(trials_dir) / f"trial-{trial.number:05d}"
    # Every assignment prints its device: a promoted trial may have run on both GPUs.
    log, metrics = directory / "output.log", directory / "metrics.jsonl"
    runs = pinned.findall(log.read_text()) if log.exists() else []
    gpus = ",".join(dict.fromkeys(gpu for _, gpu in runs)) or "-"
    devices = ",".join(dict.fromkeys(device for device, _ in runs)) or "-"
    lines = metrics.read_text().splitlines() if metrics.exists() else []
    epochs = [json.loads(line) for line in lines]
    on_gpu.update(gpu for _, gpu in runs)
    seconds = sum(e["seconds"] for e in epochs) / max(1, len(epochs))
    print(
        f"{trial.number:>5} {trial.state.value:>9} {len(epochs):>6} {gpus:>10} {devices:>6} "
        f"{seconds:>7.3f}"
    )
print(f"assignments per pinned GPU: {dict(on_gpu)}")
EOF
echo "output in $work"
exit "$status"
