#!/usr/bin/env python3
"""Checks of the compose stack and the image it runs, without a Docker engine.

  compose_test.py --source-dir REPO [--bin-dir BUILD/bin]

- compose/docker-compose.yml passes `docker-compose config -q` with the three secrets set, and
  fails naming each one when it is missing (a missing docker-compose is a failure, not a skip);
- every service has a health check; each stage's command, admin port and health path match its
  main.cc; the environment every stage gets is accepted by the stage (documented keys of its own
  sections, `--print-config`, and for the persister `backup list`);
- published ports bind 127.0.0.1; volumes, dependencies and mounted files are in place;
- compose/prometheus/prometheus.yml scrapes every stage by service name with the jobs and labels
  of ops/prometheus/prometheus.yml and passes promtool with the rules of ops/prometheus/rules/;
- compose/Dockerfile builds every executable the compose file runs (through the entry point),
  its apt packages exist in Debian 12 and its runtime packages cover every shared library the
  locally built executables load (ldd + dpkg -S); .dockerignore lets the sources in and build
  directories, var/, .git and compose/.env out;
- .github/workflows/ci.yml runs .ci/run in debian:bookworm and builds compose/Dockerfile.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

STAGE_PORTS = {"fetcher": 9101, "decoder": 9102, "aggregator": 9103, "persister": 3000, "alerter": 9104}
SERVICES = {"kafka", "topics", *STAGE_PORTS, "prometheus", "alertmanager", "grafana"}
NAMED_VOLUMES = {"kafka-data", "persister-data", "backups", "prometheus-data", "grafana-data"}
SECRETS = {
    "PERSISTER_API_TOKEN": "compose-test-token-0123456789abcdef",
    "BACKUP_ENCRYPTION_SECRET": "5e" * 32,
    "GRAFANA_ADMIN_PASSWORD": "compose-test-password",
}
# Sections every process reads (docs/specs/configuration.md §5), and each stage's own.
RUNTIME_SECTIONS = {"kafka", "http", "metrics", "instance", "shutdown", "log"}
OWN_SECTIONS = {stage: {stage} for stage in STAGE_PORTS}
OWN_SECTIONS["persister"].add("backup")
# Packages of ops/install-deps.sh that only tests, tools or the local broker need.
NOT_FOR_THE_IMAGE = re.compile(
    r"^(libgtest-dev|libgmock-dev|libbenchmark-dev|openjdk-.*|maven|kcat|prometheus|"
    r"prometheus-alertmanager|clang|libclang-rt-.*|wrk|docker-compose|jq|python3.*|logrotate|"
    r"sqlite3|git)$")
# Libraries of ops/install-deps.sh the executables are not built with: a JSON header library none
# of their sources includes.
NOT_NEEDED_TO_BUILD = {"nlohmann-json3-dev"}
BUILD_TOOLCHAIN = {"build-essential", "cmake", "ninja-build", "pkg-config"}
# Shared libraries a sanitizer build adds; the image is never built with them.
SANITIZER_LIBS = re.compile(r"^lib(asan|ubsan|lsan|tsan|hwasan)\.so")


class Checks:
    def __init__(self):
        self.failures = []

    def check(self, condition, what, detail=""):
        if condition:
            print(f"ok    {what}")
        else:
            self.failures.append(what)
            print(f"FAIL  {what}" + (f"\n      {detail}" if detail else ""))
        return condition


def run(argv, env=None, cwd=None, stdin=None):
    return subprocess.run(argv, env=env, cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=300)


def clean_env(extra=None):
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
           if name in os.environ}
    env.update(extra or {})
    return env


def duration_s(text):
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(text)):
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def dockerfile_instructions(path):
    """The Dockerfile as (INSTRUCTION, arguments) with continuation lines joined."""
    instructions, current = [], ""
    for line in open(path, encoding="utf-8"):
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        word, _, rest = current.partition(" ")
        instructions.append((word.upper(), rest.strip()))
        current = ""
    return instructions


def dockerfile_arg(instructions, name):
    for word, rest in instructions:
        match = re.match(rf'{name}="([^"]*)"$', rest) if word == "ARG" else None
        if match:
            return match.group(1).split()
    return None


def dockerignore_patterns(path):
    patterns = []
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        patterns.append((re.compile(regex + "$"), negate))
    return patterns


def docker_excludes(patterns, relative_path):
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = relative_path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for regex, negate in patterns:
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not negate
    return excluded


def install_deps_packages(path):
    text = open(path, encoding="utf-8").read()
    block = re.search(r"packages=\((.*?)\n\)", text, re.S)
    return set(block.group(1).split()) if block else set()


def documented_keys(source_dir):
    texts = [open(os.path.join(source_dir, "docs/specs/configuration.md"), encoding="utf-8").read()]
    stages_dir = os.path.join(source_dir, "stages")
    for stage in sorted(os.listdir(stages_dir)):
        readme = os.path.join(stages_dir, stage, "README.md")
        if os.path.exists(readme):
            texts.append(open(readme, encoding="utf-8").read())
    return set(re.findall(r"`([a-z0-9_]+(?:\.[a-z0-9_]+)+)`", "\n".join(texts)))


def env_key(name):
    return name[len("POINTTRON_"):].lower().replace("__", ".")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--bin-dir",
                        help="directory of the built executables (ldd and --print-config checks)")
    args = parser.parse_args()
    src = os.path.abspath(args.source_dir)
    compose_dir = os.path.join(src, "compose")
    compose_file = os.path.join(compose_dir, "docker-compose.yml")
    checks = Checks()
    check = checks.check

    # ---- docker-compose config ----------------------------------------------------------------
    docker_compose = shutil.which("docker-compose")
    if not check(docker_compose is not None, "docker-compose is installed (ops/install-deps.sh installs it)"):
        return finish(checks)
    with tempfile.TemporaryDirectory() as scratch:
        # An empty env file: a developer's compose/.env must not satisfy or change the checks.
        empty_env_file = os.path.join(scratch, "empty.env")
        open(empty_env_file, "w").close()
        base = [docker_compose, "--env-file", empty_env_file, "-f", compose_file]

        result = run(base + ["config", "-q"], env=clean_env(SECRETS))
        check(result.returncode == 0, "docker-compose config -q passes with the secrets set",
              result.stderr.strip())
        unset_warnings = [line for line in result.stderr.splitlines() if "is not set" in line]
        check(not unset_warnings, "every variable has a default or is required",
              "; ".join(unset_warnings))
        for secret in SECRETS:
            others = {name: value for name, value in SECRETS.items() if name != secret}
            for label, env in (("unset", others), ("empty", {**others, secret: ""})):
                result = run(base + ["config", "-q"], env=clean_env(env))
                check(result.returncode != 0 and secret in result.stderr,
                      f"docker-compose config fails naming {secret} when it is {label}",
                      f"exit {result.returncode}: {result.stderr.strip()[-300:]}")

        result = run(base + ["config"], env=clean_env(SECRETS))
        if not check(result.returncode == 0, "docker-compose config prints the resolved stack",
                     result.stderr.strip()):
            return finish(checks)
        config = yaml.safe_load(result.stdout)

        services = config.get("services", {})
        check(set(services) == SERVICES, "the stack's services",
              f"got {sorted(services)}, expected {sorted(SERVICES)}")
        check_services(check, src, config)
        check_stage_environment(check, src, services, args.bin_dir, scratch)
        check_prometheus(check, src, services, scratch)
        check_grafana(check, src, services)
        check_env_example(check, compose_dir)
        check_image(check, src, services, args.bin_dir, scratch)
    check_ci(check, src)
    return finish(checks)


def finish(checks):
    if checks.failures:
        print(f"\n{len(checks.failures)} check(s) failed:\n  " + "\n  ".join(checks.failures))
        return 1
    print("\nall compose checks passed")
    return 0


def published_ports(service):
    """(host_ip, host_port, container_port) of each published port, short or long syntax."""
    out = []
    for port in service.get("ports", []) or []:
        if isinstance(port, dict):
            out.append((port.get("host_ip", ""), str(port.get("published", "")), str(port.get("target"))))
            continue
        spec = str(port).split("/")[0]
        parts = spec.split(":")
        if len(parts) == 3:
            out.append((parts[0], parts[1], parts[2]))
        elif len(parts) == 2:
            out.append(("", parts[0], parts[1]))
        else:
            out.append(("", "", parts[0]))
    return out


def mounts(service):
    """(source, target) of each volume, short or long syntax."""
    out = []
    for volume in service.get("volumes", []) or []:
        if isinstance(volume, dict):
            out.append((str(volume.get("source", "")), str(volume.get("target", ""))))
        else:
            parts = str(volume).split(":")
            out.append((parts[0], parts[1] if len(parts) > 1 else parts[0]))
    return out


def health_test(service):
    test = (service.get("healthcheck") or {}).get("test")
    if isinstance(test, list):
        return " ".join(test[1:]) if test and test[0] in ("CMD", "CMD-SHELL") else " ".join(test)
    return test or ""


def check_services(check, src, config):
    services = config["services"]
    for name, service in sorted(services.items()):
        healthcheck = service.get("healthcheck") or {}
        check(bool(health_test(service)) and not healthcheck.get("disable"),
              f"{name}: has a health check", str(healthcheck))
        if name != "topics":
            check(service.get("restart") == "unless-stopped", f"{name}: restart unless-stopped",
                  str(service.get("restart")))
        for host_ip, host_port, container_port in published_ports(service):
            check(host_ip == "127.0.0.1", f"{name}: port {container_port} is published on 127.0.0.1 only",
                  f"host_ip {host_ip!r}")

    main_ports = {}
    for stage, port in STAGE_PORTS.items():
        main_cc = open(os.path.join(src, "stages", stage, "main.cc"), encoding="utf-8").read()
        match = re.search(r"\.default_http_port\s*=\s*(\d+)", main_cc)
        main_ports[stage] = int(match.group(1)) if match else None
        check(main_ports[stage] == port, f"{stage}: main.cc's default port is {port}",
              f"main.cc says {main_ports[stage]}")

    pointtron = {name: s for name, s in services.items() if name == "topics" or name in STAGE_PORTS}
    images = {s.get("image") for s in pointtron.values()}
    builds = {json.dumps(s.get("build"), sort_keys=True) for s in pointtron.values()}
    check(len(images) == 1 and None not in images, "the stages and topics run one image", str(images))
    for build in builds:
        build = json.loads(build) or {}
        context = os.path.normpath(os.path.join(src, "compose", str(build.get("context", ""))))
        check(context == src and build.get("dockerfile") == "compose/Dockerfile",
              "the image is built from the repository root with compose/Dockerfile", str(build))

    for stage, port in STAGE_PORTS.items():
        service = services.get(stage, {})
        env = service.get("environment", {}) or {}
        check(service.get("command") == [stage], f"{stage}: the command names the stage",
              str(service.get("command")))
        test = health_test(service)
        check(re.search(rf"\bcurl\b.*\s-f\S*\s.*http://127\.0\.0\.1:{port}/health/ready$", test) is not None,
              f"{stage}: health check GETs /health/ready on port {port} and fails on an error status", test)
        check(env.get("POINTTRON_HTTP__LISTEN_ADDRESS") == "0.0.0.0",
              f"{stage}: admin listener on 0.0.0.0 inside the container")
        check(str(env.get("POINTTRON_HTTP__PORT", port)) == str(port), f"{stage}: http.port not moved")
        check(env.get("POINTTRON_KAFKA__BOOTSTRAP_SERVERS") == "kafka:9092",
              f"{stage}: brokers at kafka:9092 (the internal listener)")
        depends = service.get("depends_on") or {}
        check(isinstance(depends, dict)
              and (depends.get("kafka") or {}).get("condition") == "service_healthy"
              and (depends.get("topics") or {}).get("condition") == "service_completed_successfully",
              f"{stage}: starts once kafka is healthy and the topics exist", str(depends))
        check(duration_s(service.get("stop_grace_period", "10s")) > 15,
              f"{stage}: stop_grace_period exceeds the 15 s drain", str(service.get("stop_grace_period")))
        exposed = {str(p).split("/")[0] for p in service.get("expose", []) or []}
        exposed |= {container for _, _, container in published_ports(service)}
        check(str(port) in exposed, f"{stage}: port {port} exposed or published", str(exposed))

    decoder = services.get("decoder", {})
    check("container_name" not in decoder and not decoder.get("ports"),
          "decoder: scalable (no container_name, no host port)")
    persister = services.get("persister", {})
    check(any(p == ("127.0.0.1", p[1], "3000") for p in published_ports(persister)),
          "persister: query API port 3000 published on 127.0.0.1")
    penv = persister.get("environment", {}) or {}
    persister_mounts = dict((target, source) for source, target in mounts(persister))
    check(persister_mounts.get(penv.get("POINTTRON_PERSISTER__DATA_DIR")) == "persister-data",
          "persister: persister.data_dir is the persister-data volume", str(persister_mounts))
    check(persister_mounts.get(penv.get("POINTTRON_BACKUP__DIRECTORY")) == "backups",
          "persister: backup.directory is the backups volume", str(persister_mounts))
    check(penv.get("POINTTRON_PERSISTER__API_TOKENS") == SECRETS["PERSISTER_API_TOKEN"]
          and penv.get("POINTTRON_BACKUP__ENCRYPTION_SECRET") == SECRETS["BACKUP_ENCRYPTION_SECRET"],
          "persister: API token and backup key come from PERSISTER_API_TOKEN and BACKUP_ENCRYPTION_SECRET")
    fenv = services.get("fetcher", {}).get("environment", {}) or {}
    check(fenv.get("POINTTRON_FETCHER__NODE_URLS") == "https://api.trongrid.io"
          and "POINTTRON_FETCHER__NODE_API_KEYS" in fenv,
          "fetcher: TronGrid mainnet by default, API key from the environment")
    check((services.get("alerter", {}).get("environment") or {}).get("POINTTRON_ALERTER__EXTERNAL_URL"),
          "alerter: alerter.external_url is set")
    genv = services.get("grafana", {}).get("environment", {}) or {}
    check(genv.get("GF_SECURITY_ADMIN_PASSWORD") == SECRETS["GRAFANA_ADMIN_PASSWORD"],
          "grafana: admin password from GRAFANA_ADMIN_PASSWORD")

    topics = services.get("topics", {})
    check(topics.get("command") == ["pointtron", "topics", "create"], "topics: runs pointtron topics create",
          str(topics.get("command")))
    check(str(topics.get("restart", "no")) in ("no", "False", "false"), "topics: one shot (restart no)",
          str(topics.get("restart")))
    check(((topics.get("depends_on") or {}).get("kafka") or {}).get("condition") == "service_healthy",
          "topics: waits for a healthy kafka")

    kafka = services.get("kafka", {})
    kenv = {k: str(v) for k, v in (kafka.get("environment") or {}).items()}
    check(kafka.get("image") == "apache/kafka:4.1.1", "kafka: apache/kafka:4.1.1")
    roles = kenv.get("KAFKA_PROCESS_ROLES", "").split(",")
    check(set(roles) == {"broker", "controller"} and kenv.get("KAFKA_NODE_ID") == "1"
          and kenv.get("KAFKA_CONTROLLER_QUORUM_VOTERS", "").startswith("1@"),
          "kafka: KRaft, one node as broker and controller")
    advertised = dict(re.findall(r"(\w+)://([^,]+)", kenv.get("KAFKA_ADVERTISED_LISTENERS", "")))
    check("kafka:9092" in advertised.values(), "kafka: a listener advertised as kafka:9092 for the stages",
          str(advertised))
    check(kenv.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false", "kafka: auto.create.topics.enable=false")
    factors = [k for k in kenv if k.endswith("REPLICATION_FACTOR")]
    check(len(factors) >= 2 and all(kenv[k] == "1" for k in factors),
          "kafka: internal topics replicated once",
          str(factors))
    kafka_mounts = dict((target, source) for source, target in mounts(kafka))
    check(kafka_mounts.get(kenv.get("KAFKA_LOG_DIRS")) == "kafka-data",
          "kafka: log.dirs on the kafka-data volume",
          str(kafka_mounts))
    check("kafka-broker-api-versions" in health_test(kafka) or "kafka-topics" in health_test(kafka),
          "kafka: health check asks the broker")

    volumes = set(config.get("volumes", {}) or {})
    used = {source for service in services.values() for source, _ in mounts(service)}
    check(NAMED_VOLUMES <= volumes, "named volumes for kafka, persister data, backups, prometheus, grafana",
          str(sorted(volumes)))
    check(volumes <= used, "every named volume is mounted", str(sorted(volumes - used)))
    for name, service in services.items():
        for source, target in mounts(service):
            if source.startswith("/"):
                check(os.path.exists(source),
                      f"{name}: mounted {os.path.relpath(source, src)} exists", source)
    rules = [m for m in mounts(services.get("prometheus", {})) if m[0].endswith("ops/prometheus/rules")]
    check(bool(rules) and any(f.endswith(".yml") for f in os.listdir(rules[0][0])),
          "prometheus: ops/prometheus/rules/*.yml mounted")
    for source_suffix, target in (("ops/alertmanager/alertmanager.yml", "alertmanager"),
                                  ("ops/grafana/provisioning", "grafana"),
                                  ("ops/grafana/dashboards", "grafana")):
        check(any(s.endswith(source_suffix) for s, _ in mounts(services.get(target, {}))),
              f"{target}: mounts {source_suffix}")
    for name, dependency in (("prometheus", "alertmanager"), ("grafana", "prometheus")):
        condition = ((services.get(name, {}).get("depends_on") or {}).get(dependency) or {}).get("condition")
        check(condition == "service_healthy", f"{name}: waits for a healthy {dependency}")


def check_stage_environment(check, src, services, bin_dir, scratch):
    keys = documented_keys(src)
    for stage in STAGE_PORTS:
        env = {k: str(v) for k, v in (services.get(stage, {}).get("environment") or {}).items()}
        for name in sorted(env):
            if not name.startswith("POINTTRON_"):
                continue
            key = env_key(name)
            section = key.split(".")[0]
            check("__" in name and key in keys, f"{stage}: {name} is the documented key {key}")
            check(section in RUNTIME_SECTIONS | OWN_SECTIONS[stage],
                  f"{stage}: {name} belongs to a section {stage} reads")
        if not bin_dir:
            continue
        binary = os.path.join(bin_dir, f"pointtron-{stage}")
        if not check(os.access(binary, os.X_OK), f"{stage}: built executable {binary}"):
            continue
        process_env = {"PATH": "/usr/bin:/bin", "ASAN_OPTIONS": "detect_leaks=0", **env}
        result = run([binary, "--print-config"], env=process_env, cwd=scratch)
        effective = {}
        if result.returncode == 0:
            try:
                effective = json.loads(result.stdout)
            except ValueError:
                pass
        check(result.returncode == 0 and effective.get("http.port") == STAGE_PORTS[stage]
              and effective.get("http.listen_address") == "0.0.0.0",
              f"{stage}: pointtron-{stage} --print-config accepts the compose environment "
              f"(0.0.0.0:{STAGE_PORTS[stage]})", (result.stderr or result.stdout).strip()[-400:])
        if stage == "persister":
            # The persister's and backup keys, parsed as the stage parses them (paths moved to a
            # scratch directory: only the values and key names are under test).
            offline = dict(process_env)
            offline["POINTTRON_PERSISTER__DATA_DIR"] = os.path.join(scratch, "persister")
            offline["POINTTRON_BACKUP__DIRECTORY"] = os.path.join(scratch, "backups")
            os.makedirs(offline["POINTTRON_BACKUP__DIRECTORY"], exist_ok=True)
            result = run([binary, "backup", "list"], env=offline, cwd=scratch)
            check(result.returncode == 0, "persister: pointtron-persister backup list accepts the compose "
                  "environment (persister.*, backup.*)", (result.stderr or result.stdout).strip()[-400:])


def check_prometheus(check, src, services, scratch):
    path = os.path.join(src, "compose/prometheus/prometheus.yml")
    prom = yaml.safe_load(open(path, encoding="utf-8"))
    prom_mounts = dict((target, source) for source, target in mounts(services.get("prometheus", {})))
    check(os.path.realpath(prom_mounts.get("/etc/prometheus/prometheus.yml", "")) == os.path.realpath(path),
          "prometheus: compose/prometheus/prometheus.yml mounted as its configuration")
    jobs = {job["job_name"]: job for job in prom.get("scrape_configs", [])}
    for stage, port in STAGE_PORTS.items():
        job = jobs.get(stage, {})
        targets = [t for sc in job.get("static_configs", []) for t in sc.get("targets", [])]
        dns = [(n, sd.get("port")) for sd in job.get("dns_sd_configs", []) for n in sd.get("names", [])]
        check(f"{stage}:{port}" in targets or (stage, port) in dns,
              f"prometheus: job {stage} scrapes the {stage} service on {port}", str(job))
        check(any(r.get("target_label") == "host" for r in job.get("relabel_configs", []) or []),
              f"prometheus: job {stage} sets the host label the inhibit rules compare")
    check(any(sd.get("names") == ["decoder"] for sd in jobs.get("decoder", {}).get("dns_sd_configs", [])),
          "prometheus: every decoder replica is a target (DNS service discovery)")
    reference = os.path.join(src, "ops/prometheus/prometheus.yml")
    if os.path.exists(reference):
        ops_jobs = {job["job_name"] for job in yaml.safe_load(open(reference)).get("scrape_configs", [])}
        check(ops_jobs <= set(jobs),
              "prometheus: the jobs of ops/prometheus/prometheus.yml (the rules use them)",
              str(sorted(ops_jobs - set(jobs))))
    alertmanagers = [t for am in prom.get("alerting", {}).get("alertmanagers", [])
                     for sc in am.get("static_configs", []) for t in sc.get("targets", [])]
    check(alertmanagers == ["alertmanager:9093"], "prometheus: alerts go to alertmanager:9093")
    check(prom.get("rule_files") == ["/etc/prometheus/rules/*.yml"],
          "prometheus: rules from /etc/prometheus/rules")

    promtool = shutil.which("promtool")
    if check(promtool is not None, "promtool is installed (ops/install-deps.sh installs it)"):
        # The file as the container sees it, its rule glob pointed at the repository's rules.
        local = os.path.join(scratch, "prometheus.yml")
        text = open(path, encoding="utf-8").read().replace(
            "/etc/prometheus/rules/", os.path.join(src, "ops/prometheus/rules") + "/")
        open(local, "w").write(text)
        result = run([promtool, "check", "config", local])
        check(result.returncode == 0 and "rule files found" in result.stdout,
              "prometheus: promtool check config passes with ops/prometheus/rules",
              (result.stdout + result.stderr).strip()[-600:])


def check_grafana(check, src, services):
    provisioning = os.path.join(src, "ops/grafana/provisioning")
    datasources = os.path.join(provisioning, "datasources")
    urls, paths = [], []
    for directory, out, field in ((datasources, urls, "url"),):
        for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
            for entry in (yaml.safe_load(open(os.path.join(directory, name))) or {}).get("datasources", []):
                out.append(entry.get(field))
    dashboards = os.path.join(provisioning, "dashboards")
    for name in sorted(os.listdir(dashboards)) if os.path.isdir(dashboards) else []:
        for entry in (yaml.safe_load(open(os.path.join(dashboards, name))) or {}).get("providers", []):
            paths.append((entry.get("options") or {}).get("path"))
    check("http://prometheus:9090" in urls, "grafana: the provisioned datasource is the prometheus service",
          str(urls))
    grafana_targets = {target for _, target in mounts(services.get("grafana", {}))}
    check(bool(paths) and all(p in grafana_targets for p in paths),
          "grafana: the dashboards provider's path is mounted", f"{paths} vs {sorted(grafana_targets)}")


def check_env_example(check, compose_dir):
    compose_text = open(os.path.join(compose_dir, "docker-compose.yml"), encoding="utf-8").read()
    referenced = set(re.findall(r"\$\{([A-Z0-9_]+)", compose_text))
    example_path = os.path.join(compose_dir, ".env.example")
    if not check(os.path.exists(example_path), "compose/.env.example exists"):
        return
    example = open(example_path, encoding="utf-8").read()
    listed = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", example, re.M))
    check(referenced <= listed, "compose/.env.example lists every variable of the compose file",
          str(sorted(referenced - listed)))
    for secret in SECRETS:
        check(re.search(rf"^{secret}=$", example, re.M) is not None,
              f"compose/.env.example leaves {secret} empty (no default secret)")
    gitignore = os.path.join(compose_dir, ".gitignore")
    check(os.path.exists(gitignore) and ".env" in open(gitignore).read().split(),
          "compose/.env is ignored by git")


def check_image(check, src, services, bin_dir, scratch):
    dockerfile = os.path.join(src, "compose/Dockerfile")
    instructions = dockerfile_instructions(dockerfile)
    froms = [rest for word, rest in instructions if word == "FROM"]
    check(len(froms) == 2 and re.match(r"debian:bookworm\s+AS\s+\w+", froms[0], re.I)
          and froms[1].startswith("debian:bookworm-slim"),
          "Dockerfile: builds on debian:bookworm, runs on debian:bookworm-slim", str(froms))
    targets = dockerfile_arg(instructions, "BUILD_TARGETS") or []
    build_packages = dockerfile_arg(instructions, "BUILD_PACKAGES") or []
    runtime_packages = dockerfile_arg(instructions, "RUNTIME_PACKAGES") or []
    check(bool(targets and build_packages and runtime_packages),
          "Dockerfile: BUILD_PACKAGES, BUILD_TARGETS and RUNTIME_PACKAGES")
    runs = " ".join(rest for word, rest in instructions if word == "RUN")
    for flag in ("-G Ninja", "-DCMAKE_BUILD_TYPE=Release", "-DPIPELINE_BUILD_TESTS=OFF",
                 "-DPIPELINE_BUILD_BENCHMARKS=OFF", "--target ${BUILD_TARGETS}"):
        check(flag in runs, f"Dockerfile: cmake {flag}")
    root_cmake = open(os.path.join(src, "CMakeLists.txt"), encoding="utf-8").read()
    for option in re.findall(r"-D(PIPELINE_\w+)=", runs):
        check(f"option({option} " in root_cmake, f"Dockerfile: {option} is an option of CMakeLists.txt")

    # Every executable the compose file runs, found through the image's entry point with a fake
    # PATH that holds exactly the executables the Dockerfile builds.
    fake_bin = os.path.join(scratch, "fake-bin")
    os.makedirs(fake_bin, exist_ok=True)
    for target in targets:
        with open(os.path.join(fake_bin, target), "w") as script:
            script.write(f'#!/bin/sh\necho "RAN {target} $*"\n')
        os.chmod(os.path.join(fake_bin, target), 0o755)
    entrypoint = os.path.join(src, "compose/entrypoint.sh")
    copies = " ".join(rest for word, rest in instructions if word == "COPY")
    check("compose/entrypoint.sh /usr/local/bin/pointtron-entrypoint" in copies
          and "/out/ /usr/local/bin/" in copies, "Dockerfile: executables and entry point in /usr/local/bin")
    entry = [rest for word, rest in instructions if word == "ENTRYPOINT"]
    check(bool(entry) and "pointtron-entrypoint" in entry[-1],
          "Dockerfile: ENTRYPOINT is pointtron-entrypoint",
          str(entry))
    for name, service in sorted(services.items()):
        if name != "topics" and name not in STAGE_PORTS:
            continue
        command = [str(word) for word in service.get("command") or []]
        result = run(["sh", entrypoint, *command], env={"PATH": f"{fake_bin}:/usr/bin:/bin"})
        ran = result.stdout.split()[1] if result.stdout.startswith("RAN ") else None
        check(result.returncode == 0 and ran in targets,
              f"{name}: `{' '.join(command)}` runs {ran or '?'}, which the Dockerfile builds",
              (result.stdout + result.stderr).strip())
        if name in STAGE_PORTS:
            check(ran == f"pointtron-{name}", f"{name}: the entry point runs pointtron-{name}")
            stage_cmake = open(os.path.join(src, "stages", name, "CMakeLists.txt"), encoding="utf-8").read()
            check(os.path.exists(os.path.join(src, "stages", name, "main.cc"))
                  and f"pipeline_stage(NAME {name}" in stage_cmake,
                  f"{name}: pointtron-{name} is a target of stages/{name}/CMakeLists.txt")
    check("pointtron" in targets and "add_executable(pointtron " in
          open(os.path.join(src, "stages/cli/CMakeLists.txt"), encoding="utf-8").read(),
          "Dockerfile: builds the pointtron CLI")
    user = [rest for word, rest in instructions if word == "USER"]
    check(bool(user) and not user[-1].startswith(("root", "0")), "Dockerfile: runs as a non-root user",
          str(user))
    workdir = [rest for word, rest in instructions if word == "WORKDIR"]
    check(workdir and workdir[-1] == "/var/lib/pointtron", "Dockerfile: WORKDIR /var/lib/pointtron")
    penv = services.get("persister", {}).get("environment") or {}
    for key in ("POINTTRON_PERSISTER__DATA_DIR", "POINTTRON_BACKUP__DIRECTORY"):
        check(str(penv.get(key)) in runs, f"Dockerfile: creates {penv.get(key)} for the non-root user")

    # Build packages: those of ops/install-deps.sh, without the test and tool packages.
    deps = install_deps_packages(os.path.join(src, "ops/install-deps.sh"))
    check(set(build_packages) <= deps, "Dockerfile: build packages are packages of ops/install-deps.sh",
          str(sorted(set(build_packages) - deps)))
    check(not [p for p in build_packages if NOT_FOR_THE_IMAGE.match(p)],
          "Dockerfile: no test or tool packages in the build stage")
    # Every library (-dev) the local build gets, and the toolchain; tools do not matter here.
    build_needed = {p for p in deps if p.endswith("-dev") and not NOT_FOR_THE_IMAGE.match(p)}
    build_needed = (build_needed | BUILD_TOOLCHAIN) - NOT_NEEDED_TO_BUILD
    check(build_needed <= set(build_packages),
          "Dockerfile: the toolchain and every library of ops/install-deps.sh",
          str(sorted(build_needed - set(build_packages))))
    for tool in ("curl", "ca-certificates", "tini"):
        check(tool in runtime_packages, f"Dockerfile: {tool} in the runtime image")

    # Each package exists in Debian 12 (when this machine has apt lists to ask).
    apt_cache = shutil.which("apt-cache")
    lists = "/var/lib/apt/lists"
    if apt_cache and os.path.isdir(lists) and any("_Packages" in n for n in os.listdir(lists)):
        packages = sorted(set(build_packages + runtime_packages))
        policy = run([apt_cache, "policy", *packages]).stdout
        blocks = dict(re.findall(r"^(\S+):\n((?:[ \t].*\n?)*)", policy, re.M))
        for package in packages:
            block = blocks.get(package, "")
            candidate = re.search(r"Candidate: (\S+)", block)
            check(candidate is not None and candidate.group(1) != "(none)" and "bookworm" in block,
                  f"apt: {package} is a Debian 12 (bookworm) package", block.strip() or "unknown to apt")
    else:
        print("note  apt lists absent: package existence not checked")

    # Runtime packages cover the shared libraries the executables load.
    if not bin_dir:
        print("note  no --bin-dir: shared libraries not checked")
        return
    needed = {}
    for target in targets:
        binary = os.path.join(bin_dir, target)
        if not check(os.access(binary, os.X_OK), f"built executable {target}"):
            continue
        dynamic = run(["readelf", "-d", binary]).stdout
        sonames = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)
        paths = dict(re.findall(r"^\s*(\S+) => (/\S+)", run(["ldd", binary]).stdout, re.M))
        check(bool(sonames), f"{target}: readelf lists its shared libraries")
        for soname in sonames:
            needed.setdefault(soname, (paths.get(soname), set()))[1].add(target)
    for soname, (path, users) in sorted(needed.items()):
        if SANITIZER_LIBS.match(soname):
            print(f"note  {soname}: sanitizer runtime of this build, not part of the image")
            continue
        package = None
        if path:
            for candidate in (path, os.path.realpath(path)):
                owner = run(["dpkg", "-S", candidate])
                if owner.returncode == 0:
                    package = owner.stdout.split(":")[0].strip()
                    break
        check(package in runtime_packages,
              f"runtime: {soname} ({package or 'no package'}) is installed in the image",
              f"needed by {', '.join(sorted(users))}; add its package to RUNTIME_PACKAGES")

    # Build context: sources in, build output, var/, .git and secrets out.
    patterns = dockerignore_patterns(os.path.join(src, ".dockerignore"))
    for path in (".git/HEAD", "build/bin/pointtron", "build-asan/CMakeCache.txt",
                 "var/persister/pointtron.db", "var/keys/local-backup.key", "compose/.env"):
        check(docker_excludes(patterns, path), f".dockerignore: {path} stays out of the build context")
    sources = []
    for word, rest in instructions:
        if word == "COPY" and not rest.startswith("--from"):
            sources += rest.split()[:-1]
    missing = []
    for source in sources:
        full = os.path.join(src, source)
        files = [source] if os.path.isfile(full) else [
            os.path.relpath(os.path.join(d, f), src) for d, _, fs in os.walk(full) for f in fs]
        if not files:
            missing.append(source)
        missing += [f for f in files if docker_excludes(patterns, f)]
    check(sources and not missing, ".dockerignore: every file the Dockerfile copies is in the context",
          str(missing[:10]))


def check_ci(check, src):
    path = os.path.join(src, ".github/workflows/ci.yml")
    if not check(os.path.exists(path), ".github/workflows/ci.yml exists"):
        return
    workflow = yaml.safe_load(open(path, encoding="utf-8"))
    triggers = workflow.get("on", workflow.get(True)) or {}  # YAML 1.1 reads a bare `on` as true
    check("push" in triggers and "pull_request" in triggers, "ci.yml: runs on push and pull_request")
    jobs = workflow.get("jobs", {})
    ci = jobs.get("ci", {})
    container = ci.get("container")
    image = container.get("image") if isinstance(container, dict) else container
    steps = ci.get("steps", [])
    check(image == "debian:bookworm", "ci.yml: job ci runs in debian:bookworm", str(image))
    check(int(ci.get("timeout-minutes", 0)) == 90, "ci.yml: job ci times out after 90 minutes")
    check(any(re.search(r"(^|\s)bash \.ci/run(\s|$)", str(step.get("run", ""))) for step in steps),
          "ci.yml: job ci runs bash .ci/run")
    check(os.path.exists(os.path.join(src, ".ci/run")), ".ci/run exists")
    image_job = jobs.get("image", {})
    builds = [step for step in image_job.get("steps", [])
              if str(step.get("uses", "")).startswith("docker/build-push-action@")]
    check(bool(builds) and all((b.get("with") or {}).get("file") == "compose/Dockerfile"
                               and (b.get("with") or {}).get("context") == "." for b in builds),
          "ci.yml: job image builds compose/Dockerfile from the repository root")
    pushes = [str((b.get("with") or {}).get("push", False)) for b in builds]
    check(any("refs/tags/" in p for p in pushes)
          and all(p in ("False", "false") or "refs/tags/" in p for p in pushes),
          "ci.yml: the image is pushed on tags only", str(pushes))
    check((image_job.get("permissions") or {}).get("packages") == "write",
          "ci.yml: job image may write packages (ghcr.io)")
    check(any("ghcr.io" in json.dumps(step) for step in image_job.get("steps", [])),
          "ci.yml: pushes to ghcr.io")


if __name__ == "__main__":
    sys.exit(main())
