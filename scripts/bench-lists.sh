#!/usr/bin/env bash
# List latency before and after the list indexes (migration 0005), on one
# seeded store. Usage:
#   scripts/bench-lists.sh DATA_DIR ROWS BEFORE_BIN AFTER_BIN TPCTL [tpctl bench flags…]
# BEFORE_BIN is a `tradeplane` built from a commit without migration 0005
# (main before the indexes), AFTER_BIN one with it. The store is seeded by
# AFTER_BIN, then taken back to the schema of 0001–0004 for BEFORE_BIN;
# AFTER_BIN's next start applies 0005 again. Needs python3 (sqlite3).
set -euo pipefail
dir=$1 rows=$2 before=$3 after=$4 tpctl=$5
shift 5
flags=("$@")

rm -rf "$dir"
/usr/bin/time -f "seed: %e s, %M KiB max RSS" \
    "$after" seed --data-dir "$dir" --orders "$rows" --signals "$rows" --executions "$rows"

python3 - "$dir/tradeplane.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for index in ["signals_by_source", "signals_by_symbol", "signals_by_strategy",
              "signals_by_outcome", "orders_by_exchange", "orders_by_symbol",
              "orders_by_side", "orders_by_execution", "executions_by_pipeline_id",
              "executions_by_signal", "executions_by_pipeline"]:
    db.execute(f"DROP INDEX {index}")
db.execute("CREATE INDEX executions_by_pipeline ON executions (pipeline_id, status)")
db.execute("DELETE FROM _sqlx_migrations WHERE version = 5")
db.commit()
PY

run() {
    local name=$1 bin=$2
    local started=$SECONDS
    "$bin" serve --data-dir "$dir" --grpc-listen 127.0.0.1:50151 --http-listen 127.0.0.1:18151 \
        --log-level warn > "$dir.$name.out" 2> "$dir.$name.log" &
    local pid=$!
    until grep -q '^listening' "$dir.$name.out" 2>/dev/null; do
        kill -0 "$pid" || { cat "$dir.$name.log"; exit 1; }
        sleep 0.2
    done
    echo "== $name: serving after $((SECONDS - started)) s"
    "$tpctl" --server http://127.0.0.1:50151 --api-key "$(cat "$dir/admin.key")" \
        bench --target list --no-progress "${flags[@]}"
    kill "$pid"
    wait "$pid" || true
}

run before "$before" "$@"
run after "$after" "$@"
