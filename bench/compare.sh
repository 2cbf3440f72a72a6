#!/usr/bin/env bash
# The side-by-side benchmark (bench/compare.py): builds the release binary, installs what the run
# needs (wrk, node-oidc-provider from npm, glewlwyd from Debian, argon2-cffi for the argon2id
# limit), starts a durable PostgreSQL for the pg-* scenarios, and runs every scenario.
#   bench/compare.sh                                         all scenarios and peers, 10 s × 2
#   DURATION=5 REPS=1 SCENARIOS="cc-opaque jwks" PEERS=node-oidc-provider bench/compare.sh
# Writes bench/RESULTS.md, bench/ratios.svg and bench/results/compare.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v glewlwyd >/dev/null || missing+=(glewlwyd)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
cargo build --release -p ostiary >&2
venv=$root/target/bench-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import argon2' 2>/dev/null || "$venv/bin/pip" install -q 'argon2-cffi==25.1.*' >&2
export BENCH_PYTHON=$venv/bin/python
if [[ " ${SCENARIOS:-pg-} " == *" pg-"* ]] || [ -z "${SCENARIOS:-}" ]; then
  export OSTIARY_PG_DIR=$root/target/bench-pg
  BENCH_POSTGRES_URL=$(OSTIARY_PG_FSYNC=on scripts/postgres start)
  export BENCH_POSTGRES_URL
  trap 'OSTIARY_PG_DIR=$root/target/bench-pg scripts/postgres stop >/dev/null 2>&1 || true' EXIT
fi
python3 bench/compare.py
