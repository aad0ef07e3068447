#!/usr/bin/env bash
# Installs every package point-tron needs to build, test and run locally. Idempotent: a second run
# installs nothing and returns quickly.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  librdkafka-dev libuv1-dev libsqlitecpp-dev libsqlite3-dev sqlite3 libsimdjson-dev libspdlog-dev
  libfmt-dev prometheus-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev libcurl4-openssl-dev
  libssl-dev libhttp-parser-dev libyaml-cpp-dev libzstd-dev nlohmann-json3-dev zlib1g-dev
  openjdk-17-jdk-headless maven kcat prometheus prometheus-alertmanager python3 python3-jsonschema python3-venv python3-yaml jq clang libclang-rt-14-dev wrk
  docker-compose logrotate systemd
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages already installed."
  exit 0
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The Debian prometheus packages start daemons on install; point-tron runs its own instances.
for unit in prometheus prometheus-alertmanager prometheus-node-exporter; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$unit" 2>/dev/null; then
    "${sudo_cmd[@]}" systemctl disable --now "$unit" >/dev/null 2>&1 || true
  fi
done
echo "install-deps: done."
