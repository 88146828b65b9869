#!/usr/bin/env bash
# The GPU check of the torch backend (issue 14), as ONE short run on a lent GPU machine.
#
#   1. here, once (pip reaches the registry here, not there):
#        bash benchmarks/gpu_check.sh --fetch-wheels
#      downloads the pure-Python wheels the device image lacks (gymnasium, farama-notifications,
#      pettingzoo; the versions installed here) for Python 3.12 into .whl/ (ignored by git).
#   2. on the device (the `run` tool), naming .whl in carry:
#        run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=540)
#      It checks torch and CUDA, installs the wheels if gymnasium / pettingzoo are missing (no
#      torch pin: the device's own CUDA torch is used; `pip install -e .` only where vecgym's
#      dependencies are still missing and a registry is reachable), then runs
#        a) the CUDA equivalence check: float64 torch on cuda against the numpy reference, paper
#           and corridor, B = 3, 30 slots, rtol 1e-9, identical event counts
#           (python -m benchmarks.backend_sweep --equivalence --device cuda);
#        b) the throughput sweep, B doubling from 1 until out of memory or the time budget, at
#           N = 30 (paper, corridor) and N = 1000 (python -m benchmarks.throughput --backend torch
#           --device cuda ...), under `timeout`.
#      Everything lands in $OUT (env.txt, equivalence.txt, sweep.md, sweep.json, gpu_check.log).
#   CPU dry path (tests, or any machine): bash benchmarks/gpu_check.sh --device cpu --quick
#
# Options: --device DEV (default cuda), --quick (tiny sweep: B <= 4, 3 slots, paper N = 30),
#          --sweep-seconds S (the sweep's timeout, default 330), --case-budget S (seconds per case
#          before no larger B starts, default 90), --fetch-wheels (step 1 only).
set -uo pipefail

DEVICE=cuda
QUICK=0
SWEEP_S=330
CASE_BUDGET=90
FETCH=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --sweep-seconds) SWEEP_S="$2"; shift 2 ;;
    --case-budget) CASE_BUDGET="$2"; shift 2 ;;
    --fetch-wheels) FETCH=1; shift ;;
    *) echo "gpu_check.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-python3}

if [ "$FETCH" = 1 ]; then
  exclude=$(git rev-parse --git-path info/exclude) && mkdir -p "$(dirname "$exclude")" \
    && { grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"; }
  versions=$($PY - <<'EOF'
from importlib.metadata import version
print(" ".join(f"{n}=={version(n)}" for n in ("gymnasium", "farama-notifications", "pettingzoo")))
EOF
)
  # shellcheck disable=SC2086
  $PY -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any -d .whl $versions
  exit $?
fi

OUT=${OUT:-runs/gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
echo "gpu_check: device=$DEVICE quick=$QUICK sweep timeout=${SWEEP_S}s case budget=${CASE_BUDGET}s out=$OUT ($(date -u +%FT%TZ))"

# --- torch and the device ---------------------------------------------------------------------
if ! $PY -c "import torch" 2>/dev/null; then
  echo "no torch in $PY: install the device's torch build (pip install 'vecgym[torch]' where a registry is reachable)"
  exit 3
fi
$PY - <<EOF | tee "$OUT/env.txt"
import platform, torch, numpy
print("python", platform.python_version(), "| torch", torch.__version__, "| numpy", numpy.__version__)
print("cuda available:", torch.cuda.is_available())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("gpu:", p.name, f"{p.total_memory / 2**30:.1f} GiB,", p.multi_processor_count, "SMs")
EOF
if [[ "$DEVICE" == cuda* ]] && ! $PY -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
  echo "torch.cuda.is_available() is False: no CUDA device here; stopping (use --device cpu for the dry path)"
  exit 3
fi

# --- vecgym and its dependencies (no torch pin) -------------------------------------------------
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! $PY -c "import gymnasium, pettingzoo" 2>/dev/null; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
  fi
fi
if ! $PY -c "import vecgym.core.engine, benchmarks.backend_sweep" 2>/dev/null; then
  echo "vecgym's dependencies are missing: pip install -e . (no torch pin)"
  $PY -m pip install -q -e . || { echo "pip install -e . failed (no registry? run --fetch-wheels here and carry .whl)"; exit 4; }
fi

# --- a) equivalence ---------------------------------------------------------------------------
EQ_SLOTS=30
[ "$QUICK" = 1 ] && EQ_SLOTS=5
echo "== equivalence: torch on $DEVICE vs numpy, float64, rtol 1e-9, identical event counts"
timeout 150 $PY -m benchmarks.backend_sweep --equivalence --device "$DEVICE" --preset paper corridor \
  --eq-slots "$EQ_SLOTS" 2>&1 | tee "$OUT/equivalence.txt"
EQ=${PIPESTATUS[0]}
echo "equivalence exit status: $EQ"

# --- b) the sweep -----------------------------------------------------------------------------
if [ "$QUICK" = 1 ]; then
  SWEEP_ARGS=(--max-envs 4 --steps 3 --warmup 1 --preset paper --n 30 --time-budget "$CASE_BUDGET")
else
  SWEEP_ARGS=(--preset paper corridor --n 30 1000 --steps 20 --warmup 5 --row-seconds 5 --time-budget "$CASE_BUDGET")
fi
echo "== sweep: python -m benchmarks.throughput --backend torch --device $DEVICE ${SWEEP_ARGS[*]}"
timeout "$SWEEP_S" $PY -m benchmarks.throughput --backend torch --device "$DEVICE" "${SWEEP_ARGS[@]}" \
  --json "$OUT/sweep.json" 2>&1 | tee "$OUT/sweep.md"
SW=${PIPESTATUS[0]}
[ "$SW" = 124 ] && echo "the sweep hit its ${SWEEP_S}s timeout: sweep.md holds the rows it finished (no sweep.json)"
echo "sweep exit status: $SW"
[ "$EQ" = 0 ] && [ "$SW" = 0 ]
