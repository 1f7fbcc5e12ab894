#!/usr/bin/env bash
# List latency without and with the list indexes of migration 0005, on one
# seeded store and one `tradeplane` binary. Usage:
#   scripts/bench-lists.sh DATA_DIR ROWS TRADEPLANE TPCTL [tpctl bench flags…]
# The store is seeded with ROWS signals, executions and orders; the 0005
# indexes are then dropped (the schema of migrations 0001–0004, as on main
# before them) for the "before" run, and created again from the migration
# file for the "after" run. Needs python3 (its sqlite3 module).
set -euo pipefail
dir=$1 rows=$2 tradeplane=$3 tpctl=$4
shift 4
flags=("$@")
migration=$(dirname "$0")/../server/migrations/sqlite/0005_list_indexes.sql

rm -rf "$dir"
/usr/bin/time -f "seed: %e s, %M KiB max RSS" \
    "$tradeplane" seed --data-dir "$dir" --orders "$rows" --signals "$rows" --executions "$rows"

schema() {
    python3 - "$dir/tradeplane.db" "$1" "$migration" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
if sys.argv[2] == "before":
    for (name,) in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND name NOT IN ('orders_by_status', 'executions_by_status', 'signal_dedupe_by_expiry')"
    ).fetchall():
        db.execute(f"DROP INDEX {name}")
    db.execute("CREATE INDEX executions_by_pipeline ON executions (pipeline_id, status)")
else:
    db.executescript(open(sys.argv[3]).read())
db.commit()
print(sys.argv[2], "indexes:", [n for (n,) in db.execute(
    "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")])
PY
}

run() {
    local name=$1
    local started=$SECONDS
    # Rate limits off: one call at a time is still far above 100 calls/s.
    TRADEPLANE_SECURITY__RATE_LIMITS__PER_API_KEY__RATE_PER_SECOND=0 \
    TRADEPLANE_SECURITY__RATE_LIMITS__PER_CLIENT_IP__RATE_PER_SECOND=0 \
    "$tradeplane" serve --data-dir "$dir" --grpc-listen 127.0.0.1:50151 --http-listen 127.0.0.1:18151 \
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

schema before
run before
schema after
run after
