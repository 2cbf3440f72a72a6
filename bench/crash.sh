#!/usr/bin/env bash
# The crash test's long mode: `kill -9` of `ostiary serve` under load of token, refresh and
# revocation requests, ROUNDS times on SQLite and ROUNDS times on PostgreSQL (the test command
# runs 4 of each). Prints each store's counts: tokens received and honoured, acknowledged
# revocations in force, refreshes, chains in flight at a kill, and what was lost (always 0).
#   bench/crash.sh [ROUNDS]     default 20, about a minute per 10 rounds and store
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
OSTIARY_TEST_POSTGRES_URL=$(scripts/postgres start)
export OSTIARY_TEST_POSTGRES_URL OSTIARY_CRASH_ROUNDS=$rounds
cargo nextest run -p ostiary --test server --no-capture --test-threads 1 \
  -E 'test(/^crash::kill_nine_on_/)' 2>&1 | grep -E "kill -9 rounds|FAIL|panicked|Summary"
