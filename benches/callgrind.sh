#!/usr/bin/env bash
# Instructions per request of `scimsync serve` in one scenario, counted by callgrind: steady
# where requests/s on a shared machine is not, so it shows a change of a few percent that an
# A/B run cannot. Counts user-space instructions only (no kernel), and the SHA-256 of the token
# runs in software under valgrind (the hardware instructions the native build uses are not
# emulated), so compare two builds with it rather than reading it as time.
#
# usage: benches/callgrind.sh BINARY DB SCENARIO OUT
#   e.g. benches/callgrind.sh target/release/scimsync bench.db username cg.out
# The server runs on a copy of DB; 4 connections; counting starts after the load generator's
# sampling and warm-up and lasts about three seconds.
set -u
BIN=$1 DB=$2 SC=$3 OUT=$4
LOADGEN=${LOADGEN:-target/release/loadgen}
RUN=$(mktemp -d)
trap 'rm -rf "$RUN"' EXIT
cp "$DB" "$RUN/cg.db"
TOKEN=$("$BIN" token create --tenant bench --database "sqlite://$RUN/cg.db" 2>/dev/null)
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT" \
  "$BIN" serve --listen 127.0.0.1:28081 --database "sqlite://$RUN/cg.db" >/dev/null 2>&1 &
VP=$!
sleep 6
"$LOADGEN" run --url http://127.0.0.1:28081/scim/v2 --token "$TOKEN" --scenarios "$SC" \
  --duration 8 --warmup 4 --connections 4 >/dev/null 2>&1 &
LP=$!
sleep 9
callgrind_control -i on "$VP" >/dev/null 2>&1
wait "$LP"
kill "$VP"
wait "$VP" 2>/dev/null
python3 "$(dirname "$0")/cg_per_request.py" "$OUT"
