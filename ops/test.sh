#!/usr/bin/env bash
# Builds point-tron with warnings as errors and runs every test: unit tests, and integration tests
# against a real Kafka broker started here on its own port and data directory (so a local
# pipeline on the default port is not disturbed). Stops the broker on exit.
#
#   ops/test.sh                 everything
#   ops/test.sh -L unit         only what needs no broker (any ctest arguments pass through)
#
# Environment: POINTTRON_SKIP_INSTALL=1 skips the dependency check; BUILD_DIR (default build);
# POINTTRON_TEST_KAFKA_PORT (default: a free port); POINTTRON_SANITIZE=1 builds with ASan/UBSan.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
build_dir=${BUILD_DIR:-build}
# A free pair of ports (client, controller = client + 1), so test runs of two checkouts on one
# machine never share a broker.
free_port_pair() {
  python3 - <<'PY'
import random, socket
def free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
for port in random.sample(range(19100, 29998, 2), 200):
    if free(port) and free(port + 1):
        print(port)
        break
PY
}
kafka_port=${POINTTRON_TEST_KAFKA_PORT:-$(free_port_pair)}
[[ -n "$kafka_port" ]] || { echo "test: no free port pair for the test broker" >&2; exit 1; }
export KAFKA_PORT=$kafka_port
export KAFKA_DATA_DIR="$repo/var/test-kafka-$kafka_port"

[[ "${POINTTRON_SKIP_INSTALL:-0}" == 1 ]] || bash ops/install-deps.sh
# The local S3-compatible server the backup tests upload to (a pinned moto in a venv).
[[ "${POINTTRON_SKIP_INSTALL:-0}" == 1 ]] || bash ops/s3/moto.sh install

sanitize=OFF benchmarks=ON
[[ "${POINTTRON_SANITIZE:-0}" == 1 ]] && sanitize=ON benchmarks=OFF
cmake -S . -B "$build_dir" -G Ninja -DPIPELINE_WERROR=ON -DPIPELINE_SANITIZE="$sanitize" \
  -DPIPELINE_BUILD_BENCHMARKS="$benchmarks" >/dev/null
ninja -C "$build_dir"

needs_broker=1
for arg in "$@"; do
  [[ "$arg" == unit || "$arg" == -Lunit ]] && needs_broker=0
done
if ((needs_broker)); then
  rm -rf "$KAFKA_DATA_DIR"
  trap 'bash ops/kafka/broker.sh stop || true; rm -rf "$KAFKA_DATA_DIR"' EXIT
  bash ops/kafka/broker.sh start
  export TEST_KAFKA_BROKERS="127.0.0.1:$kafka_port"
fi

ctest --test-dir "$build_dir" --output-on-failure --timeout 600 -j2 "$@"
