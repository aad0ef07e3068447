#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, broker+controller in one JVM) on loopback, assembled
# from Kafka's own Maven Central artifacts (see pom.xml). Used by `pointtron up`, tests and CI.
#
#   broker.sh fetch                 download the broker's jars into the cache (idempotent)
#   broker.sh start                 fetch, format storage if new, start, wait until it answers
#   broker.sh stop                  stop it (SIGTERM, then SIGKILL after a grace period)
#   broker.sh status                exit 0 if it answers on its port
#   broker.sh bootstrap             print its bootstrap address
#
# Settings (environment):
#   KAFKA_PORT        client port on 127.0.0.1 (default 9092); the controller uses KAFKA_PORT+1
#   KAFKA_DATA_DIR    storage, pid file and log (default <repo>/var/kafka-$KAFKA_PORT)
#   KAFKA_HEAP_MB     JVM heap (default 512)
#   KAFKA_CACHE_DIR   where the jars go (default ${XDG_CACHE_HOME:-~/.cache}/pointtron/kafka)
#   KAFKA_START_TIMEOUT_S  how long start waits for the broker to answer (default 90)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
port=${KAFKA_PORT:-9092}
controller_port=$((port + 1))
data_dir=${KAFKA_DATA_DIR:-$repo/var/kafka-$port}
heap_mb=${KAFKA_HEAP_MB:-512}
cache_dir=${KAFKA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pointtron/kafka}
start_timeout_s=${KAFKA_START_TIMEOUT_S:-90}
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
libs="$cache_dir/$kafka_version/libs"
pid_file="$data_dir/broker.pid"
log_file="$data_dir/broker.log"

say() { echo "kafka: $*" >&2; }

fetch() {
  if [[ -f "$libs/.complete" ]]; then return 0; fi
  say "Fetching Apache Kafka $kafka_version from Maven Central into $libs."
  rm -rf "$libs" && mkdir -p "$libs"
  mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime
  ls "$libs"/kafka_2.13-"$kafka_version".jar >/dev/null
  touch "$libs/.complete"
}

answers() {
  # A metadata request proves the broker serves clients, not only that the port is open.
  kcat -b "127.0.0.1:$port" -L -m 3 >/dev/null 2>&1
}

running_pid() {
  [[ -f "$pid_file" ]] || return 1
  local pid
  pid=$(cat "$pid_file")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

write_config() {
  mkdir -p "$data_dir"
  cat >"$data_dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data_dir/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
PROPS
  cat >"$data_dir/log4j2.properties" <<PROPS
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = warn
PROPS
}

java_argv=(java "-Xms${heap_mb}m" "-Xmx${heap_mb}m" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -Djava.awt.headless=true "-Dlog4j2.configurationFile=$data_dir/log4j2.properties" -cp "$libs/*")

start() {
  if pid=$(running_pid) && answers; then
    say "Already running on 127.0.0.1:$port (pid $pid)."
    return 0
  fi
  fetch
  write_config
  if [[ ! -f "$data_dir/data/meta.properties" ]]; then
    local cluster_id
    cluster_id=$("${java_argv[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    "${java_argv[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$data_dir/server.properties" \
      >>"$log_file" 2>&1
  fi
  say "Starting broker on 127.0.0.1:$port (data $data_dir, heap ${heap_mb} MiB)."
  nohup "${java_argv[@]}" kafka.Kafka "$data_dir/server.properties" >>"$log_file" 2>&1 &
  echo $! >"$pid_file"
  local deadline=$((SECONDS + start_timeout_s))
  until answers; do
    if ! running_pid >/dev/null; then
      say "Broker exited during start-up; last lines of $log_file:"
      tail -n 20 "$log_file" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      say "Broker did not answer within ${start_timeout_s}s; see $log_file."
      return 1
    fi
    sleep 0.2
  done
  say "Broker ready on 127.0.0.1:$port (pid $(cat "$pid_file"))."
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    say "Not running."
    rm -f "$pid_file"
    return 0
  fi
  kill -TERM "$pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      say "Broker did not stop within 30s; killing it."
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$pid_file"
  say "Stopped."
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) answers ;;
  bootstrap) echo "127.0.0.1:$port" ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
