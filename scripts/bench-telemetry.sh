#!/usr/bin/env bash
# Telemetry on against off, for this build alone or for a before build
# and this one in one interleaved run: each round runs
# `scripts/bench-replicas.sh sqlite webhook 5s` once per build with
# telemetry on and once off, in an order that rotates from round to round,
# then the on/off ratio of each build is summarised over the rounds (mean,
# median, 95 % interval of the mean).
#   scripts/bench-telemetry.sh ROUNDS [BEFORE_ROOT]
# BEFORE_ROOT is a checkout of the older commit with its release build
# (BEFORE_ROOT/target/release). TMPDIR=/dev/shm puts the data directories
# on tmpfs, out of the disk's way.
set -euo pipefail
rounds=${1:?rounds}; before=${2:-}
after=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp)
if [ -n "$before" ]; then
    orders=("b1 b0 a1 a0" "a0 a1 b0 b1" "b0 a0 b1 a1" "a1 b1 a0 b0")
else
    orders=("a1 a0" "a0 a1")
fi
for round in $(seq 1 "$rounds"); do
    for run in ${orders[$(( (round - 1) % ${#orders[@]} ))]}; do
        root=$after; [ "${run:0:1}" = b ] && root=$before
        on=false; [ "${run:1:1}" = 1 ] && on=true
        line=$(TRADEPLANE_TELEMETRY__METRICS=$on TRADEPLANE_TELEMETRY__SPANS=$on \
            "$root/scripts/bench-replicas.sh" sqlite webhook 5s | tail -1)
        echo "$round ${run:0:1} $on $line" | tee -a "$out"
    done
done
python3 - "$out" "${before:+after}" <<'PY'
import collections, math, statistics as st, sys
runs = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    round_, build, on, _mode, _target, rate, *_ = line.split()
    runs[round_][build, on] = float(rate)
for build, name in (("b", "before"), ("a", sys.argv[2] or "this build")):
    if not all((build, "true") in r for r in runs.values()):
        continue
    on = [r[build, "true"] for r in runs.values()]
    off = [r[build, "false"] for r in runs.values()]
    ratios = [a / b for a, b in zip(on, off)]
    mean, half = st.mean(ratios), 1.96 * st.stdev(ratios) / math.sqrt(len(ratios))
    print(f"{name}: {len(ratios)} rounds, on {st.mean(on):.0f} req/s, off {st.mean(off):.0f} req/s, "
          f"on/off mean {mean:.3f} (95 % {mean - half:.3f}-{mean + half:.3f}), median {st.median(ratios):.3f}")
PY
rm -f "$out"
