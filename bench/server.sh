#!/usr/bin/env bash
# Load benchmark of the authorization server, side by side with node-oidc-provider, on loopback.
# Same harness as ../shared/peers (lib/bench.py: wrk, 32 connections, fixed duration, server on
# CPU 1 and wrk on CPU 0, RSS sampled), runs interleaved A B A B to cancel drift.
#   bench/server.sh                         all scenarios, 10 s each
#   DURATION=20 REPS=3 SCENARIOS="cc-opaque introspect" bench/server.sh
#   PEER=none bench/server.sh              Ostiary only
# Results: one JSON line per run in bench/results/server.jsonl; a Markdown summary on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
peers=${PEERS_DIR:-$root/../shared/peers}
DURATION=${DURATION:-10}; REPS=${REPS:-2}; PEER=${PEER:-node-oidc-provider}
SCENARIOS=${SCENARIOS:-"cc-opaque cc-jwt-RS256 cc-jwt-ES256 introspect"}
out=$root/bench/results/server.jsonl
mkdir -p "$(dirname "$out")"
[ -f "$peers/lib/bench.py" ] || { echo "need $peers/lib/bench.py (the shared benchmark harness)" >&2; exit 1; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

cargo build --release -p ostiary >&2
bin=$root/target/release/ostiary
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# node-oidc-provider runs from a scratch copy (shared/ is read-only), installed from npm once.
if [ "$PEER" = node-oidc-provider ]; then
  nop=$work/nop; mkdir -p "$nop"
  cp "$peers/node-oidc-provider/package.json" "$peers/node-oidc-provider/package-lock.json" "$peers/node-oidc-provider/server.mjs" "$nop/"
  (cd "$nop" && npm ci --no-audit --no-fund --silent) >&2
fi

wait_http() { for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

start_ostiary() { # $1 scenario -> sets URL BODY BASIC PID
  local data=$work/ostiary-$RANDOM port=18500
  export OSTIARY_DATA_DIR=$data OSTIARY_BOOTSTRAP_ADMIN_PASSWORD=bench-admin
  case "$1" in
    cc-jwt-RS256) "$bin" admin server-config set access_token_format=jwt jwt.signing_alg=RS256 >/dev/null ;;
    cc-jwt-ES256) "$bin" admin server-config set access_token_format=jwt jwt.signing_alg=ES256 >/dev/null ;;
    *) "$bin" admin server-config show >/dev/null ;;
  esac
  local created
  created=$(echo '{"client_id":"bench-client","grant_types":["client_credentials"]}' | "$bin" admin client create 2>/dev/null)
  local secret
  secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$created")
  BASIC=$(printf 'bench-client:%s' "$secret" | base64 -w0)
  taskset -c 1 "$bin" serve --listen 127.0.0.1:$port --issuer http://127.0.0.1:$port/oauth2 2>"$work/serve.log" &
  PID=$!; pids+=("$PID")
  wait_http "http://127.0.0.1:$port/readyz"
  URL=http://127.0.0.1:$port/oauth2/token
  BODY='grant_type=client_credentials'
  if [ "$1" = introspect ]; then
    local token
    token=$(curl -s -H "Authorization: Basic $BASIC" -d "$BODY" "$URL" | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
    URL=http://127.0.0.1:$port/oauth2/introspection; BODY="token=$token"
  fi
}

start_peer() { # node-oidc-provider, as ../shared/peers/node-oidc-provider/bench.sh runs it
  local port=3000 format=opaque alg=RS256
  case "$1" in cc-jwt-*) format=jwt; alg=${1#cc-jwt-} ;; esac
  # exec: the PID we keep is node's own, so stopping it frees the port for the next run.
  (cd "$nop" && NODE_ENV=production PORT=$port TOKEN_FORMAT=$format ALG=$alg exec taskset -c 1 node server.mjs >"$work/nop.log" 2>&1) &
  PID=$!; pids+=("$PID")
  wait_http "http://127.0.0.1:$port/.well-known/openid-configuration"
  BASIC=$(printf 'bench-client:bench-secret-0123456789abcdef0123456789abcdef' | base64 -w0)
  URL=http://127.0.0.1:$port/token; BODY='grant_type=client_credentials&scope=api:read'
  if [ "$1" = introspect ]; then
    local token
    token=$(curl -s -H "Authorization: Basic $BASIC" -d "$BODY" "$URL" | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
    URL=http://127.0.0.1:$port/token/introspection; BODY="token=$token"
  fi
}

stop() {
  kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true
  # Both servers must be gone before the next one binds its port.
  for _ in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:3000/ || curl -s -o /dev/null http://127.0.0.1:18500/ || return 0; sleep 0.1; done
}

measure() { # $1 name
  python3 "$peers/lib/bench.py" --name "$1" --url "$URL" --pids "$PID" --body "$BODY" --basic "$BASIC" \
    --duration "$DURATION" --conns 32 --threads 2 --wrk-cpus 0 --calib-cpu 1 --out "$out" | tail -1 >&2
}

run_id=$(date -u +%Y%m%dT%H%M%SZ)
for rep in $(seq 1 "$REPS"); do
  for sc in $SCENARIOS; do
    start_ostiary "$sc"; measure "ostiary/$sc/$run_id/$rep"; stop
    if [ "$PEER" = node-oidc-provider ]; then start_peer "$sc"; measure "node-oidc-provider/$sc/$run_id/$rep"; stop; fi
  done
done

python3 - "$out" "$run_id" <<'PY'
import json, sys, collections
path, run = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(path) if run in l]
by = collections.defaultdict(list)
for r in rows:
    server, scenario = r["name"].split("/")[:2]
    by[(scenario, server)].append(r)
def med(xs):
    xs = sorted(xs)
    if not xs: return float("nan")
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2
def get(r, *keys):
    for k in keys:
        if k in r: return r[k]
    return float("nan")
print(f"| scenario | server | req/s (median of {max(len(v) for v in by.values())}) | p50 ms | p99 ms | peak RSS MiB | Ostiary / peer |")
print("|---|---|---:|---:|---:|---:|---:|")
for scenario in dict.fromkeys(s for s, _ in by):
    ours = med([get(r, "rps") for r in by[(scenario, "ostiary")]])
    for server in ["ostiary", "node-oidc-provider"]:
        runs = by.get((scenario, server))
        if not runs: continue
        rps = med([get(r, "rps") for r in runs])
        ratio = f"{ours / rps:.1f}x" if server != "ostiary" and rps == rps and rps > 0 else ""
        rss = med([get(r, "server_rss_mb_peak_sampled") for r in runs])
        print(f"| {scenario} | {server} | {rps:,.0f} | {med([get(r, 'p50_ms') for r in runs]):.2f} | {med([get(r, 'p99_ms') for r in runs]):.2f} | {rss:.0f} | {ratio} |")
PY
