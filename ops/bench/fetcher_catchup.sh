#!/usr/bin/env bash
# Fetcher catch-up throughput: tronsim serves BLOCKS mainnet-profile blocks at once; the fetcher
# fetches them all onto a fresh blocks.raw on the local broker. Prints blocks/s and MB/s.
#   BLOCKS (default 10000), PROFILE (mainnet), BUILD_DIR (build), BROKERS (127.0.0.1:9092)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD_DIR:-$repo/build}
blocks=${BLOCKS:-10000}
profile=${PROFILE:-mainnet}
sim_port=${SIM_PORT:-18190}
admin_port=${ADMIN_PORT:-19191}
"$build/bin/tronsim" serve --port "$sim_port" --head "$blocks" --profile "$profile" >/dev/null 2>&1 &
sim=$!
trap 'kill $sim ${fetcher:-} 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$sim_port/wallet/getnodeinfo" >/dev/null; do sleep 0.1; done
export POINTTRON_KAFKA__BOOTSTRAP_SERVERS=${BROKERS:-127.0.0.1:9092}
export POINTTRON_KAFKA__TOPIC_PREFIX="bench-$(date +%s)-$$."
export POINTTRON_FETCHER__NODE_URLS="http://127.0.0.1:$sim_port"
export POINTTRON_FETCHER__START=1 POINTTRON_FETCHER__NODE_RATE_LIMITS_RPS=0
export POINTTRON_HTTP__PORT=$admin_port POINTTRON_LOG__LEVEL=warn
metric() { curl -s "http://127.0.0.1:$admin_port/metrics" | awk -v n="$1" '$1 ~ "^"n"[{ ]" || $1 == n {print $2}'; }
start=$(date +%s.%N)
"$build/bin/pointtron-fetcher" &
fetcher=$!
until [[ "$(metric point_tron_stage_sent_events_total)" == "$blocks" ]]; do sleep 0.2; done
end=$(date +%s.%N)
bytes=$(metric point_tron_fetcher_fetched_bytes_total)
cpu=$(metric process_cpu_seconds_total)
python3 - "$start" "$end" "$blocks" "$bytes" "$cpu" <<'PY'
import sys
start, end, blocks, nbytes, cpu = map(float, sys.argv[1:])
s = end - start
print(f"{int(blocks)} blocks in {s:.1f} s (process start to last acknowledgement): "
      f"{blocks/s:.0f} blocks/s, {nbytes/s/1e6:.0f} MB/s, fetcher CPU {cpu:.1f} s")
PY
