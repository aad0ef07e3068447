#!/usr/bin/env bash
# Throughput of point-tron's loop-bound Kafka Producer and Consumer next to kcat, on the same
# broker, payloads, counts and producer settings (acks=all, idempotence on, linger.ms equal).
# Prints one table; docs/performance.md records a run and how to read it.
#
#   ops/bench/kafka_throughput.sh
#
# Settings (environment):
#   BROKERS      bootstrap address (default 127.0.0.1:9092, the broker of ops/kafka/broker.sh)
#   BUILD_DIR    CMake build directory holding bench/kafka_throughput (default <repo>/build);
#                it is built there first unless SKIP_BUILD=1
#   REPEAT       runs per measurement; the table shows the median (default 5)
#   PARTITIONS   partitions of each benchmark topic (default 1)
#   CASES        "size:count ..." (default "2048:200000 307200:2000": 2 KB and 300 KB messages)
#   LINGER_MS    linger.ms of kcat; must equal the Producer's (default 5, as producer.cc sets)
#   COMPRESSION  compression.type of both producers (default none: the payloads are random bytes,
#                and the clients' own cost is what is compared; stages default to lz4)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
brokers=${BROKERS:-127.0.0.1:9092}
build_dir=${BUILD_DIR:-$repo/build}
repeat=${REPEAT:-5}
partitions=${PARTITIONS:-1}
cases=${CASES:-"2048:200000 307200:2000"}
linger_ms=${LINGER_MS:-5}
compression=${COMPRESSION:-none}
bin="$build_dir/bench/kafka_throughput"

say() { echo "bench: $*" >&2; }

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  if [[ ! -f "$build_dir/build.ninja" && ! -f "$build_dir/Makefile" ]]; then
    cmake -S "$repo" -B "$build_dir" -G Ninja >/dev/null
  fi
  cmake --build "$build_dir" --target kafka_throughput -- -j2 >&2
fi
[[ -x "$bin" ]] || { say "$bin is missing."; exit 1; }
kcat -b "$brokers" -L -m 5 >/dev/null 2>&1 || { say "No broker answers on $brokers."; exit 1; }

work=$(mktemp -d)
topics=()
cleanup() {
  for topic in "${topics[@]}"; do "$bin" delete-topic --brokers "$brokers" --topic "$topic" || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# record <tool> <op> <size> <count> <wall s> <client CPU s> <in-process s or ->
record() { echo "$*" >>"$work/results"; }

# timed <stdout file> <command...>: prints "<wall s> <user+sys CPU s>" of the command. Dirty pages
# of the previous run are written back first (sync), so that run's disk work is not charged to
# this one.
timed() {
  local out=$1
  shift
  sync
  /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" >"$out" || return 1
  awk '{ printf "%.3f %.3f", $1, $2 + $3 }' "$work/time"
}

in_process_seconds() { sed -n 's/^RESULT .* seconds=\([0-9.]*\) .*/\1/p' "$work/out"; }

produce_ours() {
  local times
  times=$(timed "$work/out" "$bin" produce --brokers "$brokers" --topic "$1" --size "$size" \
    --count "$count" --rdkafka "compression.type=$compression")
  record point-tron produce "$size" "$count" "$times" "$(in_process_seconds)"
}

produce_kcat() {
  local times
  times=$(timed /dev/null kcat -P -b "$brokers" -t "$1" -l "$payload" \
    -X enable.idempotence=true -X acks=all -X "linger.ms=$linger_ms" -X "compression.type=$compression")
  record kcat produce "$size" "$count" "$times" -
}

consume_ours() {
  local times
  times=$(timed "$work/out" "$bin" consume --brokers "$brokers" --topic "$1" --count "$count")
  record point-tron consume "$size" "$count" "$times" "$(in_process_seconds)"
}

# kcat as a group consumer, like ours (join, offset fetch, commits): the reference for consume.
# kcat writes every payload to stdout, here /dev/null. -c stops it at the last message as our
# consumer stops; -e alone would add the broker's fetch.wait.max.ms (500 ms) spent proving the
# end of the partition.
consume_kcat() {
  local times
  times=$(timed /dev/null kcat -C -b "$brokers" -G "bench-kcat-$$-$RANDOM" \
    -X auto.offset.reset=earliest -e -c "$count" -q "$1")
  record kcat consume "$size" "$count" "$times" -
}

# kcat without a group (-o beginning: plain assign, no join, no commits), for information.
consume_kcat_assign() {
  local times
  times=$(timed /dev/null kcat -C -b "$brokers" -t "$1" -o beginning -e -c "$count" -q)
  record kcat-assign consume "$size" "$count" "$times" -
}

# Topics are deleted only at exit: the broker removes a deleted topic's files a minute later, and
# that disk work must not land inside a measurement.
for case in $cases; do
  size=${case%%:*}
  count=${case##*:}
  payload="$work/payload-$size"
  "$bin" payload --size "$size" --count "$count" >"$payload"
  for ((run = 1; run <= repeat; run++)); do
    ours="bench-pointtron-$size-$run-$$"
    theirs="bench-kcat-$size-$run-$$"
    for topic in "$ours" "$theirs"; do
      "$bin" create-topic --brokers "$brokers" --topic "$topic" --partitions "$partitions"
      topics+=("$topic")
    done
    # Both consumers read the topic point-tron produced. The order alternates between runs so
    # neither tool always meets the broker in the state the other left behind.
    say "size $size, run $run/$repeat: producing and consuming $count messages with both tools."
    if ((run % 2 == 1)); then
      produce_ours "$ours"; produce_kcat "$theirs"
      consume_ours "$ours"; consume_kcat "$ours"; consume_kcat_assign "$ours"
    else
      produce_kcat "$theirs"; produce_ours "$ours"
      consume_kcat_assign "$ours"; consume_kcat "$ours"; consume_ours "$ours"
    fi
  done
done
sed 's/^/bench: raw /' "$work/results" >&2

# Median wall time per (op, size, tool) -> msgs/s and MB/s; point-tron as a percentage of kcat.
# "range" is the slowest and fastest run in msgs/s; "in-process" is point-tron's own clock
# (first send -> last ack, or first record -> last record), without process start, group join
# and exit; "CPU s" is the client process's user + system time (median), which the broker sharing
# the machine does not disturb as much as it disturbs wall time.
echo
echo "Kafka client throughput on $brokers: $(nproc) CPUs, median of $repeat runs, MB = 10^6 payload bytes"
echo
sort -k2,2 -k3,3n -k1,1 "$work/results" | awk '
  function median(list, n,    sorted, i, j, t) {
    for (i = 1; i <= n; i++) sorted[i] = list[i]
    for (i = 1; i <= n; i++)
      for (j = i + 1; j <= n; j++)
        if (sorted[j] < sorted[i]) { t = sorted[i]; sorted[i] = sorted[j]; sorted[j] = t }
    return (n % 2) ? sorted[(n + 1) / 2] : (sorted[n / 2] + sorted[n / 2 + 1]) / 2
  }
  {
    key = $2 SUBSEP $3 SUBSEP $1
    n[key]++; wall[key, n[key]] = $5; cpu[key, n[key]] = $6; inproc[key, n[key]] = $7
    count[key] = $4
    if (!(($2 SUBSEP $3) in seen)) { seen[$2 SUBSEP $3] = 1; order[++cases] = $2 SUBSEP $3 }
  }
  END {
    printf "| %-7s | %-6s | %-11s | %6s | %6s | %7s | %6s | %9s | %15s | %10s | %5s |\n", "op", "size", "tool", "count", "wall s", "msgs/s", "MB/s", "% of kcat", "range msgs/s", "in-process", "CPU s"
    print "|---------|--------|-------------|-------:|-------:|--------:|-------:|----------:|----------------:|-----------:|------:|"
    for (c = 1; c <= cases; c++) {
      split(order[c], parts, SUBSEP); op = parts[1]; size = parts[2]
      for (t = 1; t <= 3; t++) {
        tool = (t == 1) ? "kcat" : (t == 2) ? "kcat-assign" : "point-tron"
        key = op SUBSEP size SUBSEP tool
        if (!(key in n)) continue
        lo = 0; hi = 0
        for (i = 1; i <= n[key]; i++) {
          # /usr/bin/time resolves 10 ms; a shorter run counts as 10 ms.
          w[i] = (wall[key, i] < 0.01) ? 0.01 : wall[key, i]
          u[i] = cpu[key, i]; p[i] = inproc[key, i]; r = count[key] / w[i]
          if (lo == 0 || r < lo) lo = r
          if (r > hi) hi = r
        }
        m = median(w, n[key]); rate[tool] = count[key] / m
        extra = (p[1] == "-" || median(p, n[key]) <= 0) ? "-" : sprintf("%.0f/s", count[key] / median(p, n[key]))
        label = sprintf("%d KB", size / 1024)
        pct = (tool == "kcat") ? "100 %" : sprintf("%.0f %%", 100 * rate[tool] / rate["kcat"])
        printf "| %-7s | %-6s | %-11s | %6d | %6.2f | %7.0f | %6.1f | %9s | %15s | %10s | %5.2f |\n", op, label, tool, count[key], m, rate[tool], rate[tool] * size / 1e6, pct, sprintf("%.0f-%.0f", lo, hi), extra, median(u, n[key])
      }
    }
  }'
