#!/usr/bin/env bash
# bench/gpu_check.sh WHEELHOUSE — on a machine with an NVIDIA GPU and PyTorch, in a few minutes:
# start the platform, push a tiny model whose setup() moves a tensor to CUDA and whose prediction
# reports torch.cuda.get_device_name(), run it through the API on a GPU deployment, and print the
# detected hardware SKU and the result.
#
# No package index is needed: the platform's own dependencies and the model environment's (cog,
# coglet) come from WHEELHOUSE (pip --find-links, --no-index), and the model environment sees the
# PyTorch of the Python that runs the platform (MODELYARD_SYSTEM_SITE_PACKAGES=1) instead of
# downloading it. Make a wheelhouse on a connected machine for the GPU machine's Python, e.g.:
#   pip download -d wheelhouse --only-binary=:all: --python-version 3.12 \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
#       -r <(python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml",
#            "rb"))["project"]["dependencies"]))') cog==0.23.1 coglet==0.23.1
#
# Environment: PYTHON (default python3: the interpreter that has torch), KEEP=1 keeps the work
# folder, MODELYARD_HARDWARE declares the GPUs where detection fails. Exit status 0 when the
# prediction reported a CUDA device.
set -euo pipefail

if [[ $# -lt 1 || ! -d "$1" ]]; then
    echo "usage: $0 WHEELHOUSE   (a folder of wheels: the platform's dependencies, cog, coglet)" >&2
    exit 2
fi
WHEELHOUSE=$(cd "$1" && pwd)
PYTHON=${PYTHON:-python3}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/modelyard-gpu-check.XXXXXX")
SERVER_PID=""
started=$(date +%s)

step() { printf '\n== %s (%ss)\n' "$*" "$(($(date +%s) - started))"; }

cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ "${KEEP:-0}" == 1 ]]; then echo "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

step "Checking the GPU and PyTorch"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader
"$PYTHON" - <<'EOF'
import sys

import torch

print(f"Python {sys.version.split()[0]}, torch {torch.__version__}, CUDA {torch.version.cuda}")
if not torch.cuda.is_available():
    sys.exit("torch sees no CUDA device: this check needs an NVIDIA GPU")
print(f"torch sees {torch.cuda.device_count()} GPU(s): {torch.cuda.get_device_name(0)}")
EOF

step "Installing the platform's dependencies from $WHEELHOUSE (no index)"
"$PYTHON" - "$REPO/pyproject.toml" >"$WORK/requirements.txt" <<'EOF'
import sys
import tomllib

with open(sys.argv[1], "rb") as fh:
    print("\n".join(tomllib.load(fh)["project"]["dependencies"]))
EOF
# Into a folder of its own: the interpreter's packages (torch) stay untouched.
"$PYTHON" -m pip install --quiet --disable-pip-version-check --no-index \
    --find-links "$WHEELHOUSE" --target "$WORK/site" -r "$WORK/requirements.txt"
export PYTHONPATH="$WORK/site:$REPO/src"

PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export MODELYARD_DATA_DIR="$WORK/data"
export MODELYARD_PORT="$PORT"
export MODELYARD_HOST=127.0.0.1
export MODELYARD_URL="http://127.0.0.1:$PORT"
export MODELYARD_REGISTER_BUILTIN_MODELS=0
export MODELYARD_SYSTEM_SITE_PACKAGES=1
export MODELYARD_IDLE_TIMEOUT=60
# The model environment: cog and coglet from the wheelhouse, nothing from an index.
export PIP_FIND_LINKS="$WHEELHOUSE"
export PIP_NO_INDEX=1
export UV_OFFLINE=1
# GPUs are detected (NVML, nvidia-smi); MODELYARD_HARDWARE=gpu-t4=1 declares them where not.

modelyard() { "$PYTHON" -c 'import sys; sys.argv[0] = "modelyard"; from modelyard.cli import main; main()' "$@"; }

step "Starting the platform on port $PORT"
TOKEN=$(modelyard tokens create)
export MODELYARD_TOKEN="$TOKEN"
modelyard serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
    if "$PYTHON" -c "import httpx, sys; sys.exit(httpx.get('$MODELYARD_URL/health').status_code != 200)" 2>/dev/null; then
        break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
    sleep 0.2
done

step "Pushing a tiny CUDA model"
mkdir -p "$WORK/model"
cat >"$WORK/model/cog.yaml" <<'EOF'
build:
  gpu: true
run: "predict.py:Runner"
EOF
cat >"$WORK/model/predict.py" <<'EOF'
import os

import torch
from cog import BaseRunner, Input


class Runner(BaseRunner):
    def setup(self) -> None:
        self.weights = torch.arange(4, dtype=torch.float32).to("cuda")
        print(f"setup: a tensor on {self.weights.device}")

    def run(self, scale: float = Input(default=2.0)) -> dict:
        total = float((self.weights * scale).sum().item())
        return {
            "device": torch.cuda.get_device_name(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "torch": torch.__version__,
            "sum": total,
        }
EOF
modelyard push "$WORK/model" admin/gpu-check

step "Running it through the API on a GPU deployment"
"$PYTHON" - <<'EOF'
import json
import os
import sys
import time

import httpx

http = httpx.Client(
    base_url=os.environ["MODELYARD_URL"],
    headers={"Authorization": f"Bearer {os.environ['MODELYARD_TOKEN']}"},
    timeout=600,
)
skus = [h["sku"] for h in http.get("/v1/hardware").json()]
gpus = [s for s in skus if s != "cpu"]
print(f"hardware this installation detected: {', '.join(skus)}")
if not gpus:
    sys.exit("no GPU SKU was detected (NVML / nvidia-smi)")
version = http.get("/v1/models/admin/gpu-check").json()["latest_version"]["id"]
refused = http.post(
    "/v1/deployments",
    json={"name": "on-cpu", "model": "admin/gpu-check", "version": version,
          "hardware": "cpu", "min_instances": 0, "max_instances": 1},
)
print(f"a gpu: true version on cpu is refused: {refused.status_code} {refused.json()['detail']}")
created = http.post(
    "/v1/deployments",
    json={"name": "gpu-check", "model": "admin/gpu-check", "version": version,
          "hardware": gpus[0], "min_instances": 0, "max_instances": 1},
)
created.raise_for_status()
prediction = http.post(
    "/v1/deployments/admin/gpu-check/predictions",
    json={"input": {"scale": 3}},
    headers={"Prefer": "wait=60"},
).json()
while prediction["status"] not in ("succeeded", "failed", "canceled"):
    time.sleep(0.5)
    prediction = http.get(f"/v1/predictions/{prediction['id']}").json()
instance = http.get(f"/v1/instances/{prediction['instance_id']}").json()
print(f"detected SKU: {gpus[0]}")
print(f"prediction {prediction['status']}: {json.dumps(prediction['output'])}")
print(f"instance {instance['id']}: gpus {instance['gpu_indexes']}, setup {instance['setup_time']}s")
print("setup logs:\n" + "\n".join("  " + line for line in instance["setup_logs"].splitlines()[-5:]))
if prediction["status"] != "succeeded":
    sys.exit(f"the prediction failed: {prediction['error']}\n{prediction['logs']}")
if not prediction["output"]["device"]:
    sys.exit("the prediction reported no CUDA device")
EOF
modelyard instances --all
step "GPU check passed"
