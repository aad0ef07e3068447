#!/usr/bin/env bash
# Fetcher live delay: tronsim runs live on the wall clock (--wall-clock: a mainnet-profile block
# whose timestamp is its 3 s slot, produced when the clock reaches that slot, as a real node
# does), the fetcher follows it from the head onto a fresh blocks.raw, and kcat reads the topic.
# The fetcher aims its head polls at "block timestamp + 3 s + margin", so only real timestamps
# give it the phase it has on mainnet. For each of
# BLOCKS blocks after the first, the delay from "tronsim has the block" to three later moments:
#   fetched   the fetcher hands the block to its producer (the record's fetched_at_ms header)
#   created   the record's Kafka timestamp (CreateTime: set by librdkafka when it is produced,
#             before the broker acknowledges it)
#   read      a consumer (kcat, unbuffered, one line per record) has read the record from the
#             broker: stamped by this script when the line arrives. This is the figure to judge:
#             the block is acknowledged by the broker and readable by the next stage.
# "tronsim has the block" is tronsim's own record of when its head reached the height (GET
# /admin/blocks: the moment its API began serving it). All clocks are this machine's wall clock.
# Prints p50/p90/p99/max of each delay in ms, and the fetcher's head polls (getnowblock
# requests) per block.
#
#   ops/bench/fetcher_live_delay.sh                 # 100 blocks, about 5 minutes
#   BLOCKS=20 ops/bench/fetcher_live_delay.sh
#
# Settings (environment): BLOCKS (default 100), PROFILE (mainnet), WALL_CLOCK (1; 0 = a block
# every INTERVAL_MS, default 3000, with fixed 2023 timestamps: the fetcher then polls on an
# arbitrary phase),
# BUILD_DIR (build; SKIP_BUILD=1 uses the binaries as they are), BROKERS (127.0.0.1:9092),
# SIM_PORT (18191), ADMIN_PORT (19192). Every POINTTRON_* variable of the caller reaches the
# fetcher (the node URL and the start are the script's; the topic prefix is fresh unless given).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$repo/build}
blocks=${BLOCKS:-100}
wall_clock=${WALL_CLOCK:-1}
interval_ms=${INTERVAL_MS:-3000}
profile=${PROFILE:-mainnet}
brokers=${BROKERS:-127.0.0.1:9092}
sim_port=${SIM_PORT:-18191}
admin_port=${ADMIN_PORT:-19192}
source "$here/lib.sh"

build_targets tronsim pointtron-fetcher
work=$(mktemp -d)
sim_pid=
trap 'kill $sim_pid ${fetcher:-} ${reader:-} 2>/dev/null || true; rm -rf "$work"' EXIT
if [[ "$wall_clock" == 1 ]]; then
  if [[ "$interval_ms" != 3000 ]]; then say "INTERVAL_MS: only with WALL_CLOCK=0 (the slot is 3 s)"; exit 64; fi
  pace=(--wall-clock)
else
  pace=(--live-interval-ms "$interval_ms")
fi
start_tronsim "$work/tronsim.log" "$sim_port" --profile "$profile" "${pace[@]}" --start-height 1000

export POINTTRON_KAFKA__BOOTSTRAP_SERVERS=${POINTTRON_KAFKA__BOOTSTRAP_SERVERS:-$brokers}
export POINTTRON_KAFKA__TOPIC_PREFIX=${POINTTRON_KAFKA__TOPIC_PREFIX:-"bench-live-$(date +%s)-$$."}
export POINTTRON_FETCHER__NODE_URLS="http://127.0.0.1:$sim_port"
export POINTTRON_FETCHER__START=head
export POINTTRON_FETCHER__NODE_RATE_LIMITS_RPS=${POINTTRON_FETCHER__NODE_RATE_LIMITS_RPS:-0}
export POINTTRON_HTTP__PORT=$admin_port POINTTRON_LOG__LEVEL=${POINTTRON_LOG__LEVEL:-warn}
topic="${POINTTRON_KAFKA__TOPIC_PREFIX}blocks.raw"
metric() { curl -s "http://127.0.0.1:$admin_port/metrics" | awk -v n="$1" '$1 ~ "^"n"[{ ]" || $1 == n {print $2}'; }

load_before=$(load_average)
"$build/bin/pointtron-fetcher" >"$work/fetcher.log" 2>&1 &
fetcher=$!
# The topic exists once the first block (the head at start) is acknowledged; kcat then reads
# from the beginning, so no record is missed, and stays attached for the ones that follow.
deadline=$((SECONDS + 60))
until [[ "$(metric point_tron_stage_sent_events_total)" -ge 1 ]] 2>/dev/null; do
  if ! kill -0 "$fetcher" 2>/dev/null || ((SECONDS >= deadline)); then
    say "The fetcher published nothing:"; tail -n 5 "$work/fetcher.log" >&2; exit 1
  fi
  sleep 0.2
done
say "Following the head for $blocks blocks (about $((blocks * interval_ms / 1000)) s)."
kcat -C -b "$brokers" -t "$topic" -o beginning -u -c $((blocks + 1)) -q -f '%k %T %h\n' |
  python3 -c '
import sys, time
out = open(sys.argv[1], "w")
for line in iter(sys.stdin.readline, ""):
    out.write(f"{time.time_ns() // 1_000_000} {line}")
    out.flush()
' "$work/records" &
reader=$!
# kcat exits after BLOCKS + 1 records; the deadline allows a few missed slots and a slow start.
deadline=$((SECONDS + blocks * interval_ms / 1000 * 2 + 60))
while kill -0 "$reader" 2>/dev/null; do
  if ((SECONDS >= deadline)); then say "Not all records arrived in time."; exit 1; fi
  sleep 1
done
load_after=$(load_average)
curl -sf "http://127.0.0.1:$sim_port/admin/blocks?from=0&to=9223372036854775807" >"$work/produced.json"
curl -sf "http://127.0.0.1:$sim_port/admin/stats" >"$work/stats.json"

python3 - "$work/records" "$work/produced.json" "$work/stats.json" "$load_before" "$load_after" \
  "$sim_port" "$wall_clock" <<'PY'
import json, math, sys, urllib.request
records_path, produced_path, stats_path, load_before, load_after, sim_port, wall_clock = sys.argv[1:]
produced = {b["height"]: b["produced_at_ms"] for b in json.load(open(produced_path))["blocks"]}
rows = []
for line in open(records_path):
    read_ms, key, create_ms, *headers = line.split()
    fields = dict(h.split("=", 1) for h in ",".join(headers).split(",") if "=" in h)
    rows.append((int(key), int(read_ms), int(create_ms), int(fields.get("fetched_at_ms", -1))))
rows.sort()
# The first record is the head the fetcher found at start: it existed before the fetcher did.
measured = [r for r in rows[1:] if r[0] in produced]
if len(measured) < len(rows) - 1:
    print(f"warning: {len(rows) - 1 - len(measured)} heights without a production time", file=sys.stderr)

def pct(values, p):  # nearest rank
    values = sorted(values)
    return values[max(0, math.ceil(p / 100 * len(values)) - 1)]

print(f"{len(measured)} blocks ({measured[0][0]}..{measured[-1][0]}), load average "
      f"{load_before} before, {load_after} after")
print()
print("| tronsim has block -> | p50 ms | p90 ms | p99 ms | max ms |")
print("|---|--:|--:|--:|--:|")
for name, index in (("fetched (fetched_at_ms)", 3), ("created (CreateTime)", 2), ("read by a consumer", 1)):
    delays = [r[index] - produced[r[0]] for r in measured]
    print(f"| {name} | {pct(delays, 50)} | {pct(delays, 90)} | {pct(delays, 99)} | {max(delays)} |")
if wall_clock == "1":
    # How late tronsim's timer made each block, from its own timestamp: the fetcher's polls aim
    # at the timestamp, so this is part of what it measures.
    def timestamp(height):
        body = json.dumps({"id_or_num": str(height), "detail": False}).encode()
        with urllib.request.urlopen(f"http://127.0.0.1:{sim_port}/wallet/getblock", body) as answer:
            return json.load(answer)["block_header"]["raw_data"]["timestamp"]
    late = [produced[r[0]] - timestamp(r[0]) for r in measured]
    print(f"| (tronsim produced it, after its timestamp) | {pct(late, 50)} | {pct(late, 90)} | "
          f"{pct(late, 99)} | {max(late)} |")
# Every head poll of the run, the fetcher's start included: about 1 per block when its polls
# land just after the block appears, more when they come early and retry.
by_path = json.load(open(stats_path))["by_path"]
head_polls = sum(n for path, n in by_path.items() if path.endswith("/getnowblock"))
print()
print(f"head polls (getnowblock): {head_polls}, {head_polls / len(rows):.2f} per block")
PY
