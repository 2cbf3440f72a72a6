#!/usr/bin/env bash
# How long `ostiary demo` takes from launch until all three roles answer (issue 9's target: under
# two seconds after build). Release build; RUNS starts (default 5), each in a fresh temporary
# data directory (keys made, users hashed, the client registered: a cold first start every time).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
base=${BASE:-19700}
cargo build --release -p ostiary >&2
bin=target/release/ostiary
ready() { curl -fs -o /dev/null "$1"; }
times=()
for i in $(seq 1 "$RUNS"); do
  start=$(date +%s%N)
  "$bin" demo --listen-base "$base" >/dev/null 2>&1 &
  pid=$!
  until ready "http://127.0.0.1:$base/oauth2/.well-known/openid-configuration" \
      && ready "http://127.0.0.1:$((base + 1))/" && ready "http://127.0.0.1:$((base + 2))/"; do
    kill -0 "$pid" 2>/dev/null || { echo "the demo exited" >&2; exit 1; }
    sleep 0.01
  done
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000000 )))
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
printf 'ostiary demo, launch to all three roles answering (ms): %s\n' "${times[*]}"
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print "median:", a[int((NR+1)/2)], "ms; max:", a[NR], "ms"}'
