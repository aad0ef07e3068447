#!/usr/bin/env python3
"""Checks the systemd units of ops/systemd:

1. what they say against the code and the docs (binaries, --config, exit codes, drain timeout,
   configuration keys of Environment= lines and of the sample pointtron.yaml, the sandbox);
2. `systemd-analyze verify` on copies whose ExecStart= names the binaries just built (verify
   insists that the binary exists), including an instance of the decoder template; any warning
   fails;
3. `systemd-analyze security --offline=yes` under an exposure threshold, printing each score;
4. each stage binary with the sample configuration and the unit's environment (specifiers
   expanded, the optional log file line enabled) under --print-config: the file and every runtime
   key parse, and the effective http.port, instance.id and log.file_path are the intended ones.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import deploy_common as common  # noqa: E402

CONFIG = "/etc/pointtron/pointtron.yaml"
TEMPLATE = "pointtron-decoder@.service"
INSTANCE = "9112"  # the template's instance name is the admin port of that decoder

SANDBOX = {
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
}
SERVICE = {
    "Type": "exec",
    "User": "pointtron",
    "Group": "pointtron",
    "EnvironmentFile": "-/etc/pointtron/env",
    "WorkingDirectory": "/var/lib/pointtron",
    "StateDirectory": "pointtron",
    "LogsDirectory": "pointtron",
    "Restart": "on-failure",
    "RestartSec": "2",
    "KillSignal": "SIGTERM",
}


def parse_unit(path):
    """[(section, key, value)] of a unit file, plus the commented-out `#Key=value` lines of the
    [Service] section as ("#Service", key, value): the optional settings the file offers."""
    entries, section = [], None
    for raw in open(path, encoding="utf-8"):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif re.match(r"^#[A-Z][A-Za-z]+=", line):
            key, value = line[1:].split("=", 1)
            entries.append(("#" + (section or ""), key, value))
        elif line and not line.startswith(("#", ";")) and "=" in line:
            key, value = line.split("=", 1)
            entries.append((section, key.strip(), value.strip()))
    return entries


def values(entries, section, key):
    return [v for s, k, v in entries if s == section and k == key]


def one(entries, section, key):
    found = values(entries, section, key)
    return found[-1] if found else None


def words(entries, section, key):
    return [w for v in values(entries, section, key) for w in v.split()]


def seconds(value):
    match = re.fullmatch(r"(\d+)(s|min|ms)?", value or "")
    if not match:
        return None
    number, unit = int(match.group(1)), match.group(2) or "s"
    return {"s": number, "min": number * 60, "ms": number / 1000}[unit]


def environment(entries, sections, specifiers):
    """{NAME: value} of Environment= lines (space-separated assignments) in `sections`."""
    env = {}
    for section, key, value in entries:
        if section in sections and key == "Environment":
            for assignment in value.split():
                name, _, val = assignment.partition("=")
                for spec, replacement in specifiers.items():
                    val = val.replace(spec, replacement)
                env[name] = val
    return env


def find_tool(name):
    return shutil.which(name) or next((p for p in (f"/usr/bin/{name}", f"/usr/sbin/{name}")
                                       if os.access(p, os.X_OK)), None)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--bin", action="append", default=[], metavar="STAGE=PATH", required=True)
    parser.add_argument("--max-exposure", type=float, default=1.5,
                        help="highest acceptable `systemd-analyze security` exposure (0-10)")
    args = parser.parse_args()
    src = args.source_dir
    unit_dir = os.path.join(src, "ops", "systemd")
    binaries = dict(item.split("=", 1) for item in args.bin)
    f = common.Failures()
    keys = common.documented_keys(src)
    ports = common.default_ports(src)

    analyze = find_tool("systemd-analyze")
    if not analyze:
        print("FAIL: systemd-analyze not found (Debian package systemd)")
        return 1
    for stage in common.STAGES:
        f.check(stage in binaries and os.access(binaries[stage], os.X_OK),
                f"--bin {stage}=… names an executable ({binaries.get(stage)})")

    # --- the sample configuration.
    sample = yaml.safe_load(open(os.path.join(unit_dir, "pointtron.yaml"), encoding="utf-8"))
    config = common.flatten(sample)
    for key in sorted(config):
        f.check(common.is_valid_key(key, keys), f"pointtron.yaml: {key} is not a documented configuration key")
    for key in ("http.port", "instance.id", "log.file_path"):
        f.check(key not in config, f"pointtron.yaml: {key} differs per stage and must not be shared")
    for key in ("persister.data_dir", "backup.directory"):
        f.check(str(config.get(key, "")).startswith("/"), f"pointtron.yaml: {key} is absolute")
    drain_s = (common.drain_timeout_ms(src, config) + common.HTTP_CLOSE_MS) / 1000

    # --- the units, statically.
    units = {f"pointtron-{stage}.service": stage for stage in common.STAGES}
    units[TEMPLATE] = "decoder"
    present = sorted(n for n in os.listdir(unit_dir) if n.endswith((".service", ".target")))
    f.check(sorted(set(units) | {"pointtron.target"}) == present,
            f"ops/systemd holds the units {sorted(units)} and pointtron.target (found {present})")
    parsed = {}
    for name, stage in units.items():
        path = os.path.join(unit_dir, name)
        if not f.check(os.path.isfile(path), f"{name} exists"):
            continue
        entries = parsed[name] = parse_unit(path)
        f.check(values(entries, "Service", "ExecStart") ==
                [f"/usr/local/bin/pointtron-{stage} --config {CONFIG}"], f"{name}: ExecStart")
        for key, expected in SERVICE.items():
            f.check(one(entries, "Service", key) == expected, f"{name}: {key}={expected} (found {one(entries, 'Service', key)})")
        for key, expected in SANDBOX.items():
            f.check(one(entries, "Service", key) == expected, f"{name}: {key}={expected} (found {one(entries, 'Service', key)})")
        f.check("@system-service" in words(entries, "Service", "SystemCallFilter"), f"{name}: SystemCallFilter=@system-service")
        f.check({"64", "78"} <= set(words(entries, "Service", "RestartPreventExitStatus")),
                f"{name}: RestartPreventExitStatus=64 78 (usage and configuration errors repeat)")
        f.check(one(entries, "Unit", "StartLimitIntervalSec") is not None and
                one(entries, "Unit", "StartLimitBurst") is not None, f"{name}: StartLimitIntervalSec and StartLimitBurst")
        stop = seconds(one(entries, "Service", "TimeoutStopSec"))
        f.check(stop is not None and stop > drain_s, f"{name}: TimeoutStopSec {stop} s above the drain + HTTP close ({drain_s} s)")
        f.check("network-online.target" in words(entries, "Unit", "After") and
                "network-online.target" in words(entries, "Unit", "Wants"), f"{name}: after network-online.target")
        f.check(one(entries, "Unit", "PartOf") == "pointtron.target", f"{name}: PartOf=pointtron.target")
        f.check(one(entries, "Install", "WantedBy") == "pointtron.target", f"{name}: WantedBy=pointtron.target")
        for section in ("Service", "#Service"):
            for var in environment(entries, {section}, {}):
                key = common.env_to_key(var)
                f.check(key is not None and common.is_valid_key(key, keys),
                        f"{name}: Environment {var} is not POINTTRON_<SECTION>__<KEY> of a documented key")
        f.check(any(k.startswith("POINTTRON_LOG__FILE_PATH")
                    for k in environment(entries, {"#Service"}, {})), f"{name}: offers the log file line")
    template_env = environment(parsed.get(TEMPLATE, []), {"Service"}, {})
    f.check(template_env.get("POINTTRON_HTTP__PORT") == "%i", f"{TEMPLATE}: the instance name is http.port")
    f.check("%i" in template_env.get("POINTTRON_INSTANCE__ID", ""), f"{TEMPLATE}: the instance name is in instance.id")
    target = parse_unit(os.path.join(unit_dir, "pointtron.target"))
    f.check(one(target, "Install", "WantedBy") == "multi-user.target", "pointtron.target: WantedBy=multi-user.target")

    with tempfile.TemporaryDirectory(prefix="pointtron-systemd-") as tmp:
        # --- systemd-analyze verify on copies that run the binaries just built.
        copies = []
        for name in present:
            text = open(os.path.join(unit_dir, name), encoding="utf-8").read()
            for stage, path in binaries.items():
                text = text.replace(f"/usr/local/bin/pointtron-{stage} ", f"{path} ")
            with open(os.path.join(tmp, name), "w", encoding="utf-8") as out:
                out.write(text)
            copies.append(os.path.join(tmp, name))
        instance = os.path.join(tmp, TEMPLATE.replace("@.", f"@{INSTANCE}."))
        verify = subprocess.run([analyze, "verify", "--man=no", *copies, instance],
                                capture_output=True, text=True, timeout=120)
        output = (verify.stdout + verify.stderr).strip()
        print(f"systemd-analyze verify ({len(copies) + 1} units): exit {verify.returncode}"
              + (f"\n{output}" if output else ", no warnings"))
        f.check(verify.returncode == 0 and not output, "systemd-analyze verify: exit 0 without warnings")

        # --- systemd-analyze security, offline.
        threshold = int(round(args.max_exposure * 10))
        for path in [c for c in copies if c.endswith(".service")] + [instance]:
            run = subprocess.run([analyze, "security", "--offline=yes", f"--threshold={threshold}", path],
                                 capture_output=True, text=True, timeout=120)
            match = re.search(r"Overall exposure level for (\S+): ([\d.]+)", run.stdout)
            score = float(match.group(2)) if match else None
            print(f"systemd-analyze security {os.path.basename(path)}: exposure {score} (threshold {args.max_exposure})")
            f.check(run.returncode == 0 and score is not None and score <= args.max_exposure,
                    f"{os.path.basename(path)}: exposure {score} at most {args.max_exposure} "
                    f"(exit {run.returncode}) {run.stderr.strip()[-300:]}")

        # --- each binary with the sample config and the unit's environment.
        config_copy = os.path.join(tmp, "pointtron.yaml")
        shutil.copy(os.path.join(unit_dir, "pointtron.yaml"), config_copy)
        logs = os.path.join(tmp, "log")
        for name, stage in units.items():
            if name not in parsed or stage not in binaries:
                continue
            instance_name = INSTANCE if name == TEMPLATE else ""
            specifiers = {"%i": instance_name, "%H": socket.gethostname()}
            unit_env = environment(parsed[name], {"Service", "#Service"}, specifiers)
            env = {k: v for k, v in os.environ.items() if not k.startswith("POINTTRON_")}
            env.update({k: v.replace("/var/log/pointtron", logs) for k, v in unit_env.items()})
            run = subprocess.run([binaries[stage], "--config", config_copy, "--print-config"],
                                 env=env, capture_output=True, text=True, timeout=30)
            if not f.check(run.returncode == 0, f"{name}: --print-config exit {run.returncode}: {run.stderr.strip()[-300:]}"):
                continue
            effective = json.loads(run.stdout.strip().splitlines()[-1])
            expected_port = int(instance_name) if instance_name else ports[stage]
            f.check(effective.get("http.port") == expected_port, f"{name}: http.port {effective.get('http.port')} is {expected_port}")
            f.check(effective.get("log.file_path") == env["POINTTRON_LOG__FILE_PATH"],
                    f"{name}: the optional log file is {env['POINTTRON_LOG__FILE_PATH']}")
            f.check(os.path.basename(effective.get("log.file_path", "")) ==
                    (f"{stage}-{instance_name}.log" if instance_name else f"{stage}.log"),
                    f"{name}: a log file of its own")
            if instance_name:
                f.check(effective.get("instance.id") == f"{socket.gethostname()}-decoder-{instance_name}",
                        f"{name}: instance.id {effective.get('instance.id')}")

    return f.report("systemd")


if __name__ == "__main__":
    sys.exit(main())
