#!/usr/bin/env bash
# `tpctl bench` against one tradeplane on SQLite, one on PostgreSQL, or two
# replicas on one PostgreSQL database, and prints one line per target:
#   MODE TARGET req/s p50_ms p99_ms
# With two replicas, each gets its own tpctl with half the concurrency
# (64 in flight in all), and the line sums their throughput and takes the
# worse latency.
#   scripts/bench-replicas.sh sqlite|postgres|postgres2 submit,webhook 10s [tpctl bench args…]
# PostgreSQL modes need TRADEPLANE_BENCH_DATABASE_URL, a server URL such as
# postgres://tradeplane@127.0.0.1:55433/postgres, and psql on the PATH: each
# run creates a fresh database there and drops it after. ASYNC_COMMIT=1
# sets synchronous_commit = off on that database (to see what the WAL
# flushes cost). Release binaries are read from target/release.
set -euo pipefail
mode=${1:?sqlite, postgres or postgres2}; targets=${2:?targets}; dur=${3:?duration}; shift 3
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/target/release
key=tpk_bench000000000000000000000000000000000000000000000000000000000000
pass=bench-passphrase-0123456789
export TRADEPLANE_ADMIN_KEY=$key TRADEPLANE_WEBHOOK_PASSPHRASE=$pass
replicas=1
case $mode in
    sqlite) ;;
    postgres) ;;
    postgres2) replicas=2 ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
if [ "$mode" != sqlite ]; then
    server=${TRADEPLANE_BENCH_DATABASE_URL:?a PostgreSQL server URL}
    db=bench_$(date +%s%N)
    psql -q "$server" -c "CREATE DATABASE $db"
    [ -n "${ASYNC_COMMIT:-}" ] && psql -q "$server" -c "ALTER DATABASE $db SET synchronous_commit = off"
    export TRADEPLANE_DATABASE_URL=${server%/*}/$db
fi
declare -a pids grpc http dirs
for i in $(seq 1 "$replicas"); do
    data=$(mktemp -d)
    eval "$("$root/scripts/bench-serve.sh" "$bin" "$data")"
    echo "$pass" > "$data/passphrase"
    pids[i]=$PID; grpc[i]=$GRPC; http[i]=$HTTP; dirs[i]=$data
done
[ -n "${AFTER_START_SQL:-}" ] && psql -q "$TRADEPLANE_DATABASE_URL" -c "$AFTER_START_SQL"
declare -a benches
for i in $(seq 1 "$replicas"); do
    "$bin/tpctl" --server "http://${grpc[i]}" --api-key "$key" -o json bench \
        --target "$targets" --duration "$dur" --concurrency $((64 / replicas)) --no-progress \
        --webhook-url "http://${http[i]}/webhooks/tradingview" \
        --passphrase-file "${dirs[i]}/passphrase" "$@" > "${dirs[i]}/out.json" &
    benches[i]=$!
done
for i in $(seq 1 "$replicas"); do wait "${benches[i]}"; done
for i in $(seq 1 "$replicas"); do kill "${pids[i]}"; wait "${pids[i]}" 2>/dev/null || true; done
python3 - "$mode" "${dirs[@]}" <<'PY'
import json, sys
mode, dirs = sys.argv[1], sys.argv[2:]
runs = [json.load(open(f"{d}/out.json"))["reports"] for d in dirs]
for k, first in enumerate(runs[0]):
    reports = [run[k] for run in runs]
    print(mode, first["target"],
          round(sum(r["throughput_per_second"] for r in reports)),
          max(r["p50_ms"] for r in reports), max(r["p99_ms"] for r in reports))
PY
for i in $(seq 1 "$replicas"); do rm -rf "${dirs[i]}"; done
if [ "$mode" != sqlite ]; then psql -q "$server" -c "DROP DATABASE $db WITH (FORCE)"; fi
