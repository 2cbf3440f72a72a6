#!/usr/bin/env bash
# Resource server validations per second (criterion: a JWT access token through
# ostiary_resource::Validator, keys cached, claims and scopes checked) next to `openssl speed`'s raw
# verify rate, pinned to the same core in the same run. Writes bench/resource-results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cpu=${CPU:-1}
pin() { if command -v taskset >/dev/null; then taskset -c "$cpu" "$@"; else "$@"; fi; }

cargo bench -p ostiary-resource --bench validate --no-run >/dev/null
echo "== openssl speed (cpu $cpu)" >&2
openssl_out=$(pin openssl speed -seconds 3 rsa2048 ecdsap256 2>/dev/null)
echo "== criterion (cpu $cpu)" >&2
pin cargo bench -p ostiary-resource --bench validate >&2

python3 - "$openssl_out" <<'PY' > bench/resource-results.md
import json, re, sys, datetime
text = sys.argv[1]
verify = {}
m = re.search(r"^rsa 2048 bits\s+\S+\s+\S+\s+[\d.]+\s+([\d.]+)", text, re.M)
if m: verify["RS256"] = float(m[1])
m = re.search(r"^\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+[\d.]+\s+([\d.]+)", text, re.M)
if m: verify["ES256"] = float(m[1])
print(f"# Resource server validation, {datetime.date.today()} (one core)\n")
print("| token | validations/s (Ostiary) | raw verify/s (openssl speed) | ratio |")
print("|---|---|---|---|")
for alg in ["RS256", "ES256"]:
    est = json.load(open(f"target/criterion/validate/{alg}/new/estimates.json"))
    rate = 1e9 / est["mean"]["point_estimate"]
    raw = verify.get(alg)
    ratio = f"{rate / raw:.2f}" if raw else "?"
    print(f"| {alg} JWT | {rate:,.0f} | {raw:,.0f} | {ratio} |" if raw else f"| {alg} JWT | {rate:,.0f} | ? | ? |")
PY
cat bench/resource-results.md
