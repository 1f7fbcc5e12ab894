#!/usr/bin/env bash
# Starts a release `tradeplane serve` for benchmarks and prints the
# addresses as shell assignments:
#   eval "$(scripts/bench-serve.sh target/release /tmp/benchdata)"   # sets GRPC HTTP PID
# STARTUP_MS is the time from the spawn to the listening line (the ports
# answer only after the stores are open and open orders reconciled), and
# RSS_KB the server's resident memory then.
# Rate limits are off (the bench sends far more than 100 calls/s per key);
# the paper exchange gets balances for any number of bench orders. Extra
# environment (TRADEPLANE_PIPELINES__WORKERS=…) passes through.
set -euo pipefail
bin=${1:?release directory, e.g. target/release}
data=${2:?data directory}
mkdir -p "$data"
cat > "$data/bench.toml" <<'TOML'
[exchanges.paper]
balances = { USDT = "1000000000000", BTC = "1000000" }
TOML
log="$data/serve.log"
TRADEPLANE_CONFIG="$data/bench.toml" \
TRADEPLANE_SECURITY__RATE_LIMITS__PER_API_KEY__RATE_PER_SECOND=0 \
TRADEPLANE_SECURITY__RATE_LIMITS__PER_CLIENT_IP__RATE_PER_SECOND=0 \
    nohup "$bin/tradeplane" serve --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
    --data-dir "$data" >"$log" 2>&1 &
pid=$!
started=$(date +%s%N)
for _ in $(seq 1 12000); do
    if line=$(grep -m1 -o 'listening grpc=[^ ]* http=[^ ]*' "$log"); then
        startup_ms=$(( ($(date +%s%N) - started) / 1000000 ))
        rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
        grpc=${line#listening grpc=}; grpc=${grpc%% *}
        http=${line##*http=}
        echo "GRPC=$grpc HTTP=$http PID=$pid STARTUP_MS=$startup_ms RSS_KB=$rss_kb"
        exit 0
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.01
done
echo "no listening line in $log after 120 s" >&2
exit 1
