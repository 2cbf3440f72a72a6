#!/usr/bin/env bash
# Resource server validations per second, next to `openssl speed`'s raw verify rate on the same
# core in the same run:
#  1. criterion: a JWT access token through ostiary_resource::Validator (keys cached, claims and
#     scopes checked; with and without the verified-token cache), and an opaque token through
#     Introspector answered from its cache;
#  2. a loopback load test of a sample protected route (crates/resource/examples/protected_route.rs)
#     with the shared harness ../shared/peers/lib/bench.py: the route on CPU 1, wrk on CPU 0,
#     32 connections, DURATION seconds (default 10), and the same route unprotected as the floor.
# Writes bench/resource-results.md; raw load runs go to bench/results/resource.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cpu=${CPU:-1}
DURATION=${DURATION:-10}
peers=${PEERS_DIR:-$root/../shared/peers}
pin() { if command -v taskset >/dev/null; then taskset -c "$cpu" "$@"; else "$@"; fi; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

cargo bench -p ostiary-resource --bench validate --no-run >/dev/null
cargo build --release -p ostiary-resource --example protected_route >&2
echo "== openssl speed (cpu $cpu)" >&2
openssl_out=$(pin openssl speed -seconds 3 rsa2048 ecdsap256 2>/dev/null)
echo "== criterion (cpu $cpu)" >&2
pin cargo bench -p ostiary-resource --bench validate >&2

echo "== protected route under load (route on cpu $cpu, wrk on the other)" >&2
mkdir -p bench/results
runs=bench/results/resource.jsonl
: > "$runs"
port=18600
for mode in RS256 ES256 RS256-cached introspection floor; do
  route=/api/reports serve_mode=$mode
  [ "$mode" = floor ] && { route=/floor; serve_mode=ES256; }
  out=$(mktemp)
  # taskset execs the route, so $! is the route's own pid (a shell function would fork).
  taskset -c "$cpu" target/release/examples/protected_route "$serve_mode" "$port" >"$out" &
  pid=$!
  for _ in $(seq 1 50); do [ -s "$out" ] && break; sleep 0.1; done
  token=$(head -1 "$out")
  python3 "$peers/lib/bench.py" --name "$mode" --url "http://127.0.0.1:$port$route" --pids "$pid" \
    --body "access_token=$token" --duration "$DURATION" --wrk-cpus 0 --no-calib --out "$runs" >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true; rm -f "$out"
done

python3 - "$openssl_out" "$runs" <<'PY' > bench/resource-results.md
import json, re, sys, datetime
text = sys.argv[1]
runs = {r["name"]: r for r in map(json.loads, open(sys.argv[2]))}
verify = {}
m = re.search(r"^rsa 2048 bits\s+\S+\s+\S+\s+[\d.]+\s+([\d.]+)", text, re.M)
if m: verify["RS256"] = float(m[1])
m = re.search(r"^\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+[\d.]+\s+([\d.]+)", text, re.M)
if m: verify["ES256"] = float(m[1])
print(f"# Resource server validation, {datetime.date.today()} (one core)\n")
print("| token | validations/s (Ostiary) | raw verify/s (openssl speed) | ratio |")
print("|---|---|---|---|")
def criterion_rate(name):
    est = json.load(open(f"target/criterion/validate/{name}/new/estimates.json"))
    return 1e9 / est["mean"]["point_estimate"]
for alg in ["RS256", "ES256"]:
    rate = criterion_rate(alg)
    raw = verify.get(alg)
    ratio = f"{rate / raw:.2f}" if raw else "?"
    print(f"| {alg} JWT | {rate:,.0f} | {raw:,.0f} | {ratio} |" if raw else f"| {alg} JWT | {rate:,.0f} | ? | ? |")
for name, label in [("RS256-cached", "RS256 JWT, verified-token cache"), ("ES256-cached", "ES256 JWT, verified-token cache"), ("introspection-cached", "opaque, cached introspection")]:
    print(f"| {label} | {criterion_rate(name):,.0f} | — | — |")
floor = runs.get("floor", {}).get("rps")
print("\n## A protected route on loopback (route on one core, wrk 32 connections on the other)\n")
print("| route | req/s | p50 ms | p99 ms | non-2xx | peak RSS MiB | / raw verify | / unprotected floor |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for name, label in [("RS256", "JWT RS256, signature every request"), ("ES256", "JWT ES256, signature every request"), ("RS256-cached", "JWT RS256, verified-token cache"), ("introspection", "opaque, cached introspection"), ("floor", "unprotected (floor)")]:
    r = runs.get(name)
    if not r or not r.get("rps"):
        print(f"| {label} | failed | | | | | | |"); continue
    raw = verify.get(name)
    of_raw = f"{r['rps'] / raw:.2f}" if raw else "—"
    of_floor = f"{r['rps'] / floor:.2f}" if floor else "—"
    print(f"| {label} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['non_2xx']} | {r['server_vmhwm_mb']} | {of_raw} | {of_floor} |")
PY
cat bench/resource-results.md
