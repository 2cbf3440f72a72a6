#!/usr/bin/env bash
# JOSE micro-benchmarks (criterion) next to `openssl speed`, pinned to the same core in the same
# run, so the ratio means something on this noisy VM. Writes bench/jose-results.md.
#   bench/jose.sh            sign/verify of RS256, ES256, EdDSA (about 1 minute)
#   FULL=1 bench/jose.sh     every JWS algorithm and every JWE pair as well (about 6 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
cpu=${CPU:-1}
pin() { if command -v taskset >/dev/null; then taskset -c "$cpu" "$@"; else "$@"; fi; }

filter='^(sign|verify)/(RS256|ES256|EdDSA)$'
[ "${FULL:-0}" = 1 ] && filter='.'

cargo bench -p ostiary-jose --bench jose --no-run >/dev/null
echo "== openssl speed (cpu $cpu)" >&2
openssl_out=$(pin openssl speed -seconds 3 rsa2048 ecdsap256 ed25519 2>/dev/null)
echo "== criterion (cpu $cpu)" >&2
pin cargo bench -p ostiary-jose --bench jose -- "$filter" >&2
echo "== openssl speed again (cpu $cpu), to see drift" >&2
openssl_after=$(pin openssl speed -seconds 3 rsa2048 ecdsap256 ed25519 2>/dev/null)

python3 - "$openssl_out" "$openssl_after" <<'PY' > bench/jose-results.md
import glob, json, os, re, sys, datetime, platform

def speeds(text):
    out = {}
    m = re.search(r"^rsa 2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", text, re.M)
    if m: out["RS256"] = (float(m[1]), float(m[2]))
    m = re.search(r"^\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", text, re.M)
    if m: out["ES256"] = (float(m[1]), float(m[2]))
    m = re.search(r"^\s*253 bits EdDSA \(Ed25519\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", text, re.M)
    if m: out["EdDSA"] = (float(m[1]), float(m[2]))
    return out

before, after = speeds(sys.argv[1]), speeds(sys.argv[2])
def rate(group, name):
    path = f"target/criterion/{group}/{name}/new/estimates.json"
    if not os.path.exists(path): return None
    return 1e9 / json.load(open(path))["mean"]["point_estimate"]

print(f"# ostiary-jose micro-benchmarks\n")
print(f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()}, one core pinned "
      f"(criterion mean; a full JWT with ID-token claims: JSON, base64url and the signature). OpenSSL is "
      f"`openssl speed -seconds 3` (raw primitive) on the same core, before and after.\n")
print("| alg | op | Ostiary ops/s | OpenSSL ops/s (before / after) | Ostiary / OpenSSL (best) |")
print("|---|---|---:|---:|---:|")
for alg in ["RS256", "ES256", "EdDSA"]:
    for i, op in enumerate(["sign", "verify"]):
        ours = rate(op, alg)
        o = [s[alg][i] for s in (before, after) if alg in s]
        if ours is None or not o: continue
        print(f"| {alg} | {op} | {ours:,.0f} | {' / '.join(f'{x:,.0f}' for x in o)} | {ours / max(o):.2f} |")

rows = []
for group in ["sign", "verify", "encrypt", "decrypt"]:
    for path in sorted(glob.glob(f"target/criterion/{group}/*/new/estimates.json")):
        name = path.split("/")[3]
        ns = json.load(open(path))["mean"]["point_estimate"]
        rows.append((group, name, ns))
if rows:
    print("\n## Every benchmark of this and earlier runs (criterion mean)\n")
    print("| group | algorithm | µs/op | ops/s |\n|---|---|---:|---:|")
    for group, name, ns in rows:
        print(f"| {group} | {name} | {ns / 1000:.1f} | {1e9 / ns:,.0f} |")
PY
cat bench/jose-results.md
