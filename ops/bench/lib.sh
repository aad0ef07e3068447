# Helpers of the ops/bench scripts; sourced, not run. Expects `repo` and `build` to be set.

say() { echo "bench: $*" >&2; }

# build_targets TARGET...: builds them in $build unless SKIP_BUILD=1.
build_targets() {
  [[ "${SKIP_BUILD:-0}" == 1 ]] && return 0
  if [[ ! -f "$build/build.ninja" && ! -f "$build/Makefile" ]]; then
    cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DPIPELINE_BUILD_BENCHMARKS=ON >/dev/null
  fi
  cmake --build "$build" --target "$@" -- -j2 >&2
}

# cpu_seconds PID: user + system CPU seconds the process has used so far (0 once it is gone).
cpu_seconds() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  # The command name may contain spaces; after its ")" utime and stime are fields 12 and 13.
  awk -v tick="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($12 + $13) / tick }' <<<"${stat##*) }"
}

# broker_pid: the broker of ops/kafka/broker.sh, else any local Kafka broker; empty if none.
broker_pid() {
  local file="$repo/var/kafka-9092/broker.pid"
  if [[ -s "$file" ]] && kill -0 "$(cat "$file")" 2>/dev/null; then
    cat "$file"
  else
    pgrep -f kafka.Kafka | head -n 1 || true
  fi
}

# load_average: the 1-minute load average (machine load next to every figure).
load_average() { cut -d' ' -f1 /proc/loadavg; }

# start_tronsim LOG PORT ARGS...: starts `tronsim serve` in the background (pid in sim_pid) and
# waits until it answers; --prerender of a large chain takes seconds before it listens. Fails
# with the end of LOG if tronsim exits or does not answer within TRONSIM_READY_S (default 300).
start_tronsim() {
  local log=$1 port=$2
  shift 2
  "$build/bin/tronsim" serve --port "$port" "$@" >"$log" 2>&1 &
  sim_pid=$!
  local deadline=$((SECONDS + ${TRONSIM_READY_S:-300}))
  until curl -sf "http://127.0.0.1:$port/admin/head" >/dev/null; do
    if ! kill -0 "$sim_pid" 2>/dev/null || ((SECONDS >= deadline)); then
      say "tronsim did not become ready:"
      tail -n 5 "$log" >&2
      return 1
    fi
    sleep 0.1
  done
}
