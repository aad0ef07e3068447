#!/usr/bin/env bash
# How fast tronsim alone serves block ranges: bench/http_load asks POST
# /wallet/getblockbylimitnext back to back over heights 1..HEAD, on 1, 2 and 4 keep-alive
# connections, 20 and 100 blocks per request, with tronsim rendering each block on request and
# with --prerender (the chain rendered into memory at start). Prints one table: blocks/s, MB/s,
# tronsim's CPU seconds (utime + stime from /proc) and the 1-minute load average per row; then
# how long prerendering took. The client runs on the same machine and competes for the CPUs.
#
#   ops/bench/tronsim_serving.sh
#
# Settings (environment):
#   HEAD         chain length and head (default 4000; ≈ 1.1 GB kept with --prerender)
#   PASSES       passes over 1..HEAD per row (default 2: ≈ 2.2 GB of answers)
#   PROFILE      tronsim profile (default mainnet, ≈ 277 KB per block)
#   CONNECTIONS  (default "1 2 4"); RANGES (default "20 100"); MODES (default "render prerender")
#   BUILD_DIR    build directory with bin/tronsim and bench/http_load (default <repo>/build);
#                they are built there first unless SKIP_BUILD=1
#   SIM_PORT     tronsim's port (default 18290)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$repo/build}
head=${HEAD:-4000}
passes=${PASSES:-2}
profile=${PROFILE:-mainnet}
connections=${CONNECTIONS:-"1 2 4"}
ranges=${RANGES:-"20 100"}
modes=${MODES:-"render prerender"}
sim_port=${SIM_PORT:-18290}
source "$here/lib.sh"

build_targets tronsim http_load
work=$(mktemp -d)
sim_pid=
trap '[[ -n $sim_pid ]] && kill "$sim_pid" 2>/dev/null; rm -rf "$work"' EXIT

echo "tronsim serving getblockbylimitnext, profile $profile, heights 1..$head, $passes passes per row, $(nproc) CPUs"
echo
echo "| mode      | conns | range | blocks | wall s | blocks/s |   MB/s | tronsim CPU s | CPU ms/block | load |"
echo "|-----------|------:|------:|-------:|-------:|---------:|-------:|--------------:|-------------:|-----:|"
for mode in $modes; do
  extra=()
  [[ $mode == prerender ]] && extra=(--prerender)
  start_tronsim "$work/tronsim-$mode.log" "$sim_port" --head "$head" --profile "$profile" \
    --log-level info "${extra[@]}"
  for range in $ranges; do
    for conns in $connections; do
      load=$(load_average)
      cpu_before=$(cpu_seconds "$sim_pid")
      result=$("$build/bench/http_load" --url "http://127.0.0.1:$sim_port" --first 1 --last "$head" \
        --range "$range" --connections "$conns" --passes "$passes")
      cpu_after=$(cpu_seconds "$sim_pid")
      python3 - "$mode" "$result" "$cpu_before" "$cpu_after" "$load" <<'PY'
import sys
mode, result, before, after, load = sys.argv[1:]
r = dict(kv.split("=") for kv in result.split()[1:])
cpu = float(after) - float(before)
blocks = int(r["blocks"])
print(f"| {mode:9} | {r['connections']:>5} | {r['range']:>5} | {blocks:>6} | {float(r['seconds']):6.2f} | "
      f"{float(r['blocks_per_s']):8.0f} | {float(r['MB_per_s']):6.0f} | {cpu:13.2f} | "
      f"{cpu * 1000 / blocks:12.3f} | {load} |")
PY
    done
  done
  kill "$sim_pid"
  wait "$sim_pid" 2>/dev/null || true
  sim_pid=
done
python3 - "$work"/tronsim-*.log <<'PY'
import json, sys
for path in sys.argv[1:]:
    for line in open(path):
        entry = json.loads(line) if line.startswith("{") else {}
        if entry.get("message") == "Prerendered.":
            print(f"\nprerendered {entry['blocks']} blocks, {entry['bytes'] / 1e6:.0f} MB, "
                  f"in {entry['seconds']:.1f} s")
PY
