#!/usr/bin/env bash
# Signal-to-fill with and without a notification channel:
#   scripts/bench-notify.sh none|slow|fast [duration]
# none: no subscription; slow: every event to a webhook receiver that
# answers after 5 s; fast: to one that answers at once. Each run starts a
# release server on a fresh data directory, runs `tpctl bench --target
# pipeline` (64 in flight, 100 pipelines), and prints the bench line and
# the outbox's counters at its end.
set -euo pipefail
mode=${1:?none, slow or fast}
duration=${2:-10s}
data=$(mktemp -d)
receiver=
case "$mode" in
    none) ;;
    slow) port=18099; delay=5 ;;
    fast) port=18098; delay=0 ;;
    *) echo "mode: none, slow or fast" >&2; exit 2 ;;
esac
cat > "$data/bench.toml" <<'TOML'
[exchanges.paper]
balances = { USDT = "1000000000", BTC = "1" }
TOML
if [ "$mode" != none ]; then
    python3 "$(dirname "$0")/notify_receiver.py" "$port" "$delay" &
    receiver=$!
    cat >> "$data/bench.toml" <<TOML
[[notify.subscriptions]]
name = "$mode"
channel = { type = "webhook", url = "http://127.0.0.1:$port/hook", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }
TOML
fi
TRADEPLANE_CONFIG="$data/bench.toml" \
TRADEPLANE_SECURITY__RATE_LIMITS__PER_API_KEY__RATE_PER_SECOND=0 \
TRADEPLANE_SECURITY__RATE_LIMITS__PER_CLIENT_IP__RATE_PER_SECOND=0 \
    target/release/tradeplane serve --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
    --data-dir "$data" >"$data/serve.log" 2>&1 &
server=$!
trap 'kill $server ${receiver} 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 300); do
    grep -q '^listening' "$data/serve.log" && break
    sleep 0.1
done
grpc=$(grep -m1 -o 'grpc=[^ ]*' "$data/serve.log" | cut -d= -f2)
http=$(grep -m1 -o 'http=[^ ]*' "$data/serve.log" | cut -d= -f2)
target/release/tpctl --server "http://$grpc" --api-key "$(cat "$data/admin.key")" \
    bench --target pipeline --duration "$duration" --concurrency 64 --pipelines 100 --no-progress |
    grep '^pipeline'
curl -s "http://$http/metrics" | grep -E '^tradeplane_notify_(deliveries_total|outbox_pending)' || true
