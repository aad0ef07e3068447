#!/usr/bin/env bash
# The persister's query API under concurrent load, and its ingest rate with and without that load.
#
# 1. bench/persister_api_corpus writes BLOCKS block.v1 values ending now and the statistics the
#    aggregator's fold computes from them, plus two chunks of LIVE_BLOCKS more blocks with every
#    stats value a live aggregator sends (≈ 12 per block).
# 2. pointtron-persister starts on a fresh topic prefix of the local broker (it creates the
#    topics), with a fixed API token, on a free port; kcat produces the history blocks and the
#    compacted stats (the last value of every key, what a compacted topic holds), and the
#    persister ingests them: the database of the API rows (reported as "database built").
# 3. The load client (CLIENT: wrk, the default, or bench/http_load) sends authenticated GETs back
#    to back for RUN_SECONDS per row, one route per row, on each number of keep-alive connections,
#    once per answer-cache setting (CACHE_MS: persister.api_answer_cache_ms, the persister is
#    restarted for each): requests/s, client-side latency percentiles, the persister's CPU
#    (utime + stime from /proc: share of one core, and per request) and the 1-minute load average
#    before the row. A non-2xx answer fails the run.
# 4. Ingest: the persister is stopped, one live chunk is produced, the persister is started again
#    and catches up; blocks/s and records/s from its /metrics (written records, first commit to
#    last), once alone and once while http_load loads INGEST_LOAD_ROUTE on INGEST_LOAD_CONNECTIONS
#    connections (its figures are printed too).
# Client, persister and broker share the machine's cores; docs/performance.md records a run.
#
#   ops/kafka/broker.sh start      # if no broker answers on 127.0.0.1:9092
#   ops/bench/persister_api.sh
#
# Settings (environment):
#   BLOCKS (200000), LIVE_BLOCKS (50000), RUN_SECONDS (10), CONNECTIONS ("1 4 16"),
#   CLIENT (wrk | http_load), WRK_THREADS (2; fewer when there are fewer connections),
#   CACHE_MS ("1000 0": the persister.api_answer_cache_ms settings measured),
#   ROUTES (space-separated paths; default the stats, 1-minute candles and status routes),
#   INGEST_LOAD_ROUTE (/api/blocks/stats), INGEST_LOAD_CONNECTIONS (4),
#   BUILD_DIR (<repo>/build; built there first unless SKIP_BUILD=1), BROKERS (127.0.0.1:9092),
#   PORT (the persister's HTTP port; default a free one), KEEP_WORK=1 keeps the database and logs.
# Every POINTTRON_* variable of the caller reaches the persister (the topic prefix, data directory,
# port and token are the script's).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$repo/build}
blocks=${BLOCKS:-200000}
live_blocks=${LIVE_BLOCKS:-50000}
run_seconds=${RUN_SECONDS:-10}
connections=${CONNECTIONS:-"1 4 16"}
client=${CLIENT:-wrk}
wrk_threads=${WRK_THREADS:-2}
cache_settings=${CACHE_MS:-"1000 0"}
routes=${ROUTES:-"/api/blocks/stats /api/blocks/kline?period=1m&limit=100 /api/system/status"}
ingest_load_route=${INGEST_LOAD_ROUTE:-/api/blocks/stats}
ingest_load_connections=${INGEST_LOAD_CONNECTIONS:-4}
brokers=${BROKERS:-127.0.0.1:9092}
source "$here/lib.sh"

build_targets pointtron-persister http_load persister_api_corpus kafka_throughput
if [[ $client == wrk ]] && ! command -v wrk >/dev/null; then say "wrk is missing: ops/install-deps.sh installs it."; exit 1; fi
kcat -b "$brokers" -L -m 5 >/dev/null 2>&1 || { say "No broker answers on $brokers."; exit 1; }
port=${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
prefix="bench-api-$(date +%s)-$$."
# A fixed token (≥ 16 characters): the benchmark's database holds nothing secret.
token=bench-api-token-0123456789
work=$(mktemp -d)
persister_pid=
load_pid=

cleanup() {
  [[ -n $load_pid ]] && kill "$load_pid" 2>/dev/null
  [[ -n $persister_pid ]] && kill "$persister_pid" 2>/dev/null && wait "$persister_pid" 2>/dev/null
  for topic in blocks.raw blocks stats metrics alerts dlq aggregator.state alerter.state; do
    "$build/bench/kafka_throughput" delete-topic --brokers "$brokers" --topic "$prefix$topic" >/dev/null 2>&1 || true
  done
  if [[ "${KEEP_WORK:-0}" == 1 ]]; then say "Kept $work."; else rm -rf "$work"; fi
}
trap cleanup EXIT

export POINTTRON_KAFKA__BOOTSTRAP_SERVERS=$brokers POINTTRON_KAFKA__TOPIC_PREFIX=$prefix
export POINTTRON_PERSISTER__DATA_DIR=$work/persister POINTTRON_PERSISTER__API_TOKENS=$token
export POINTTRON_HTTP__PORT=$port POINTTRON_LOG__LEVEL=${POINTTRON_LOG__LEVEL:-warn}
url="http://127.0.0.1:$port"

# metric NAME: the sum of every series of NAME on the persister's /metrics (0 if none yet).
metric() {
  curl -s "$url/metrics" | awk -v n="$1" '$1 ~ "^"n"[{ ]" || $1 == n { sum += $2 } END { printf "%.0f\n", sum }'
}
written_records() {
  curl -s "$url/metrics" | awk '/^point_tron_persister_written_records_total\{.*topic="(blocks|stats)"/ { sum += $2 }
    END { printf "%.0f\n", sum }'
}
now() { date +%s.%N; }

start_persister() {
  "$build/bin/pointtron-persister" >>"$work/persister.log" 2>&1 &
  persister_pid=$!
  until curl -sf "$url/health/live" >/dev/null; do
    kill -0 "$persister_pid" 2>/dev/null || { say "The persister exited:"; tail -n 5 "$work/persister.log" >&2; exit 1; }
    sleep 0.1
  done
}

stop_persister() {
  kill "$persister_pid"
  wait "$persister_pid" 2>/dev/null || true
  persister_pid=
}

# produce NAME: the corpus files NAME.blocks.tsv and NAME.stats.tsv onto the persister's topics.
produce() {
  local topic
  for topic in blocks stats; do
    kcat -P -b "$brokers" -t "$prefix$topic" -K $'\t' -l "$work/corpus/$1.$topic.tsv" -X linger.ms=5
  done
}

records_of() { cat "$work/corpus/$1.blocks.tsv" "$work/corpus/$1.stats.tsv" | wc -l; }

# wait_ingested EXPECTED: polls the written-records counter (it restarts at 0 with the process)
# until EXPECTED are committed; prints "<records after the first commit seen> <seconds>" from the
# first poll that saw a commit to the one that saw the last.
wait_ingested() {
  local expected=$1 written first_written= first_at= deadline=$((SECONDS + 900))
  while :; do
    written=$(written_records)
    if [[ -z $first_at && $written -gt 0 ]]; then first_at=$(now); first_written=$written; fi
    ((written >= expected)) && break
    ((SECONDS < deadline)) || { say "Only $written of $expected records were committed."; exit 1; }
    kill -0 "$persister_pid" 2>/dev/null || { say "The persister exited:"; tail -n 5 "$work/persister.log" >&2; exit 1; }
    sleep 0.1
  done
  python3 -c "import sys; print($expected - $first_written, f'{$(now) - $first_at:.2f}')"
}

say "Writing the corpus ($blocks blocks + 2 x $live_blocks live blocks)."
mkdir -p "$work/corpus"
"$build/bench/persister_api_corpus" --out "$work/corpus" --blocks "$blocks" --live-blocks "$live_blocks" --live-chunks 2

echo "persister query API, $blocks blocks, $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC')"
start_persister
produce history
read -r records seconds < <(wait_ingested "$(records_of history)")
height=$(metric point_tron_persister_block_height)
echo "database built: $(records_of history) records (blocks + compacted stats) up to height $height," \
  "$(python3 -c "print(f'{$records / $seconds:.0f}')") records/s after the first commit;" \
  "$(du -sh "$work/persister" | cut -f1) on disk"
echo
echo "client: $client"
echo
echo "| route | cache ms | conns | requests/s | p50 ms | p90 ms | p99 ms | max ms | persister CPU | CPU µs/request | load |"
echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"

# load_run ROUTE CONNS: one load run; prints "load k=v ..." as bench/http_load does
# (connections, seconds, requests, requests_per_s, p50_ms, p90_ms, p99_ms, max_ms).
load_run() {
  if [[ $client == http_load ]]; then
    "$build/bench/http_load" --url "$url" --get "$1" --bearer "$token" --connections "$2" --seconds "$run_seconds"
    return
  fi
  local threads=$((wrk_threads < $2 ? wrk_threads : $2))
  wrk -t "$threads" -c "$2" -d "${run_seconds}s" --latency -H "Authorization: Bearer $token" "$url$1" |
    "$here/wrk_summary.py" "$2"
}

# row ROUTE CONNS CACHE_MS: one load run and its table row.
row() {
  local load cpu_before cpu_after result
  load=$(load_average)
  cpu_before=$(cpu_seconds "$persister_pid")
  result=$(load_run "$1" "$2")
  cpu_after=$(cpu_seconds "$persister_pid")
  python3 - "$1" "$result" "$cpu_before" "$cpu_after" "$load" "$3" <<'PY'
import sys
route, result, before, after, load, cache = sys.argv[1:]
r = dict(kv.split("=") for kv in result.split()[1:])
cpu = float(after) - float(before)
print(f"| `{route}` | {cache} | {r['connections']} | {float(r['requests_per_s']):,.0f} | {r['p50_ms']} | "
      f"{r['p90_ms']} | {r['p99_ms']} | {r['max_ms']} | {cpu / float(r['seconds']):.0%} | "
      f"{cpu * 1e6 / int(r['requests']):.0f} | {load} |")
PY
}

for cache_ms in $cache_settings; do
  stop_persister
  POINTTRON_PERSISTER__API_ANSWER_CACHE_MS=$cache_ms start_persister
  for route in $routes; do
    for conns in $connections; do row "$route" "$conns" "$cache_ms"; done
  done
done

# ingest CHUNK LABEL LOADED: the persister catches up on a produced live chunk, alone or loaded.
ingest() {
  local chunk=$1 label=$2 loaded=$3 load records seconds result=
  stop_persister
  produce "$chunk"
  load=$(load_average)
  start_persister
  if [[ $loaded == 1 ]]; then
    "$build/bench/http_load" --url "$url" --get "$ingest_load_route" --bearer "$token" \
      --connections "$ingest_load_connections" --seconds 900 >"$work/load.out" &
    load_pid=$!
  fi
  read -r records seconds < <(wait_ingested "$(records_of "$chunk")")
  if [[ $loaded == 1 ]]; then
    kill -INT "$load_pid"
    wait "$load_pid"
    load_pid=
    result=$(cat "$work/load.out")
  fi
  python3 - "$label" "$records" "$seconds" "$(records_of "$chunk")" "$live_blocks" "$load" "$result" <<'PY'
import sys
label, records, seconds, total, blocks, load, result = sys.argv[1:]
rate = float(records) / float(seconds)
line = (f"| {label} | {rate * int(blocks) / int(total):,.0f} | {rate:,.0f} | {seconds} |")
if result:
    r = dict(kv.split("=") for kv in result.split()[1:])
    line += f" {float(r['requests_per_s']):,.0f} | {r['p50_ms']} / {r['p99_ms']} / {r['max_ms']} |"
else:
    line += " - | - |"
print(line + f" {load} |")
PY
}

echo
echo "ingest of $live_blocks live blocks with their stats ($(records_of live-1) records), first commit to last;" \
  "load: \`$ingest_load_route\` on $ingest_load_connections connections"
echo
echo "| API | blocks/s | records/s | seconds | API requests/s | API p50 / p99 / max ms | load |"
echo "|---|--:|--:|--:|--:|--:|--:|"
ingest live-1 "idle" 0
ingest live-2 "loaded" 1
