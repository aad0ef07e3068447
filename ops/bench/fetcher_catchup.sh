#!/usr/bin/env bash
# Fetcher catch-up throughput: tronsim serves BLOCKS mainnet-profile blocks at once (prerendered
# into memory at its start, so serving is a copy); the fetcher fetches them all onto a fresh
# blocks.raw on the local broker. Prints blocks/s and MB/s, then where the CPU went during the
# run: the fetcher, tronsim, the broker and the rest of the machine (from /proc), and the fetcher's
# peak RSS and its RSS once caught up.
#   BLOCKS (default 10000), PROFILE (mainnet), BUILD_DIR (build), BROKERS (127.0.0.1:9092),
#   PRERENDER (1; 0 = tronsim renders every block on request), SIM_PORT (18190),
#   ADMIN_PORT (19191)
# Every POINTTRON_* variable of the caller reaches the fetcher, e.g.
#   POINTTRON_FETCHER__RANGE_SIZE_BLOCKS=50 POINTTRON_KAFKA__RDKAFKA__COMPRESSION_TYPE=lz4
# (the node URL and the start height are the script's; the topic prefix is fresh unless given).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$repo/build}
blocks=${BLOCKS:-10000}
profile=${PROFILE:-mainnet}
sim_port=${SIM_PORT:-18190}
admin_port=${ADMIN_PORT:-19191}
source "$here/lib.sh"

sim_args=(--head "$blocks" --profile "$profile")
[[ "${PRERENDER:-1}" == 1 ]] && sim_args+=(--prerender)
sim_log=$(mktemp)
sim_pid=
trap 'kill $sim_pid ${fetcher:-} 2>/dev/null || true; rm -f "$sim_log"' EXIT
start_tronsim "$sim_log" "$sim_port" "${sim_args[@]}"
broker=$(broker_pid)
[[ -n $broker ]] || say "No broker process found; its CPU is counted in the rest of the machine."

export POINTTRON_KAFKA__BOOTSTRAP_SERVERS=${POINTTRON_KAFKA__BOOTSTRAP_SERVERS:-${BROKERS:-127.0.0.1:9092}}
export POINTTRON_KAFKA__TOPIC_PREFIX=${POINTTRON_KAFKA__TOPIC_PREFIX:-"bench-$(date +%s)-$$."}
export POINTTRON_FETCHER__NODE_URLS="http://127.0.0.1:$sim_port"
export POINTTRON_FETCHER__START=1
export POINTTRON_FETCHER__NODE_RATE_LIMITS_RPS=${POINTTRON_FETCHER__NODE_RATE_LIMITS_RPS:-0}
export POINTTRON_HTTP__PORT=$admin_port POINTTRON_LOG__LEVEL=${POINTTRON_LOG__LEVEL:-warn}
metric() { curl -s "http://127.0.0.1:$admin_port/metrics" | awk -v n="$1" '$1 ~ "^"n"[{ ]" || $1 == n {print $2}'; }
# busy_seconds: CPU seconds the whole machine has spent outside idle and iowait since boot.
busy_seconds() { awk -v tick="$(getconf CLK_TCK)" '/^cpu / { print ($2+$3+$4+$7+$8+$9) / tick }' /proc/stat; }

load=$(load_average)
cpu_before="$(cpu_seconds "$sim_pid") $(cpu_seconds "${broker:-0}") $(busy_seconds)"
start=$(date +%s.%N)
"$build/bin/pointtron-fetcher" &
fetcher=$!
until [[ "$(metric point_tron_stage_sent_events_total)" == "$blocks" ]]; do
  kill -0 "$fetcher" 2>/dev/null || { echo "fetcher exited before the last block was acknowledged" >&2; exit 1; }
  sleep 0.2
done
end=$(date +%s.%N)
cpu_after="$(cpu_seconds "$sim_pid") $(cpu_seconds "${broker:-0}") $(busy_seconds)"
fetcher_cpu=$(cpu_seconds "$fetcher")
bytes=$(metric point_tron_fetcher_fetched_bytes_total)
# Memory: the peak, and what stays resident once the fetcher only follows the head (11 s on: the
# runtime gives free heap pages back every 10 s).
peak_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$fetcher/status")
sleep 11
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$fetcher/status")
python3 - "$start" "$end" "$blocks" "$bytes" "$load" "$(nproc)" "$fetcher_cpu" $cpu_before $cpu_after \
  "$peak_kb" "$rss_kb" <<'PY'
import sys
start, end, blocks, nbytes, load, cpus, fetcher = map(float, sys.argv[1:8])
before, after = map(float, sys.argv[8:11]), map(float, sys.argv[11:14])
peak_kb, rss_kb = map(float, sys.argv[14:16])
sim, broker, busy = (a - b for a, b in zip(after, before))
s = end - start
print(f"{int(blocks)} blocks in {s:.1f} s (process start to last acknowledgement): "
      f"{blocks/s:.0f} blocks/s, {nbytes/s/1e6:.0f} MB/s, load average {load:.2f} before")
rest = busy - fetcher - sim - broker
print(f"CPU s during the run: fetcher {fetcher:.1f}, tronsim {sim:.1f}, broker {broker:.1f}, "
      f"rest of the machine {rest:.1f}; busy {busy:.1f} of {cpus * s:.1f} available "
      f"({int(cpus)} CPUs x {s:.1f} s)")
print(f"fetcher memory: peak RSS {peak_kb/1024:.0f} MB, RSS 11 s after the catch-up {rss_kb/1024:.0f} MB")
PY
