#!/usr/bin/env bash
# `npm test` runs this: every test under test/ (unit, integration against a real etcd, functional
# on real systemd machines). Extra arguments go to `bun test` (`npm test -- test/unit`, or
# `-- -t PATTERN`).
# The last line is `N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-tools.sh || { echo "0 passed, 1 failed"; exit 1; }
ensure_etcd || { echo "0 passed, 1 failed"; exit 1; }
ensure_chromium || { echo "0 passed, 1 failed"; exit 1; }
if ! ./build >&2; then echo "0 passed, 1 failed"; exit 1; fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
if [ $# -eq 0 ]; then set -- ./test; fi
bun test --timeout 120000 "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
passed=$(grep -E '^ *[0-9]+ pass$' "$out" | tail -1 | tr -dc 0-9)
failed=$(grep -E '^ *[0-9]+ fail$' "$out" | tail -1 | tr -dc 0-9)
passed=${passed:-0}; failed=${failed:-0}
# A runner that died without a summary, or exited non-zero with no failure counted, still failed.
if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
