#!/usr/bin/env bash
# A/B comparison of scimsync builds on one scenario: each run server-only on a fresh copy of
# the seeded database, the builds alternating, ROUNDS rounds. Compare the CPU per request
# column: on a shared machine it moves less than requests/s.
#
# usage: benches/ab.sh DB SCENARIO ROUNDS BINARY...
#   e.g. benches/ab.sh bench.db patch 3 ./scimsync.before target/release/scimsync
set -u
DB=$1 SC=$2 N=$3
shift 3
LOADGEN=${LOADGEN:-target/release/loadgen}
RUN=$(mktemp -d)
trap 'rm -rf "$RUN"' EXIT
for _ in $(seq "$N"); do
  for BIN in "$@"; do
    cp "$DB" "$RUN/ab.db"
    rm -f "$RUN/ab.db-wal" "$RUN/ab.db-shm"
    TOKEN=$("$BIN" token create --tenant bench --database "sqlite://$RUN/ab.db" 2>/dev/null)
    "$BIN" serve --listen 127.0.0.1:28080 --database "sqlite://$RUN/ab.db" >/dev/null 2>&1 &
    SPID=$!
    sleep 0.5
    "$LOADGEN" run --url http://127.0.0.1:28080/scim/v2 --token "$TOKEN" --server-pid "$SPID" \
      --scenarios "$SC" --connections 32 --duration 5 --warmup 1 2>/dev/null |
      grep -E '^\| [A-Za-z]' | grep -v '^| scenario' | sed "s|^|$BIN |"
    kill "$SPID"
    wait "$SPID" 2>/dev/null
  done
done
