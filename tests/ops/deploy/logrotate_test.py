#!/usr/bin/env python3
"""Checks ops/logrotate/pointtron with logrotate itself, on a temporary directory:

1. the directives the file promises (daily, 14 kept, compressed with delay, copytruncate, su);
2. `logrotate -d` accepts the file (paths rewritten to the temporary directory, `su` to the
   current user);
3. forced rotations of a file the stages' own log sink is writing (deploy_log_writer, configured
   with the environment of the fetcher unit's optional log file line): every line ends up in
   exactly one file, the live file restarts at offset 0 without a hole, an empty file is left
   alone, older files are compressed one rotation late, and 14 are kept;
4. the premise of copytruncate: rotated by renaming instead, the sink goes on writing into the
   renamed file (it never reopens its file).
"""
import argparse
import grp
import gzip
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import deploy_common as common  # noqa: E402

LOG_DIR = "/var/log/pointtron"


class Writer:
    """deploy_log_writer: logs each line sent with the stages' sink and acknowledges it."""

    def __init__(self, binary, env):
        self.process = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=env, text=True)

    def write(self, line):
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        ack = self.process.stdout.readline().strip()
        if ack != "ok":
            raise RuntimeError(f"log writer: {ack!r} {self.process.stderr.read()}")

    def close(self):
        self.process.stdin.close()
        return self.process.wait(timeout=10)


def read(path):
    if not os.path.exists(path):
        return None
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as file:
            return file.read()
    with open(path, "rb") as file:
        return file.read()


def messages(data):
    return re.findall(rb'"message":"([^"]*)"', data or b"")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--writer", required=True, help="the deploy_log_writer binary")
    args = parser.parse_args()
    f = common.Failures()

    logrotate = shutil.which("logrotate") or next(
        (p for p in ("/usr/sbin/logrotate", "/sbin/logrotate") if os.access(p, os.X_OK)), None)
    if not logrotate:
        print("FAIL: logrotate not found (Debian package logrotate, ops/install-deps.sh)")
        return 1

    source = open(os.path.join(args.source_dir, "ops", "logrotate", "pointtron"), encoding="utf-8").read()
    body = [line.split("#", 1)[0].strip() for line in source.splitlines()]
    body = [line for line in body if line]
    f.check(body[:1] == [f"{LOG_DIR}/*.log {{"], f"rotates {LOG_DIR}/*.log (found {body[:1]})")
    for directive in ("daily", "rotate 14", "compress", "delaycompress", "missingok", "notifempty",
                      "copytruncate", "su pointtron pointtron"):
        f.check(directive in body, f"directive {directive!r}")
    f.check("create" not in " ".join(body).split(), "no create: copytruncate keeps the file")

    # The fetcher unit's optional log file line: the environment a stage writing a file has.
    unit = open(os.path.join(args.source_dir, "ops", "systemd", "pointtron-fetcher.service"), encoding="utf-8").read()
    line = re.search(r"^#Environment=(POINTTRON_LOG__FILE_PATH=.*)$", unit, re.MULTILINE)
    if not f.check(line is not None, "pointtron-fetcher.service offers a log file line"):
        return f.report("logrotate")
    unit_env = dict(item.split("=", 1) for item in line.group(1).split())
    f.check(unit_env["POINTTRON_LOG__FILE_PATH"] == f"{LOG_DIR}/fetcher.log", "the fetcher logs to fetcher.log")

    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    with tempfile.TemporaryDirectory(prefix="pointtron-logrotate-") as tmp:
        logs = os.path.join(tmp, "log")
        os.mkdir(logs, 0o750)
        config = os.path.join(tmp, "pointtron")
        state = os.path.join(tmp, "state")

        def write_config(text):
            text = text.replace(LOG_DIR + "/", logs + "/").replace("su pointtron pointtron", f"su {user} {group}")
            with open(config, "w", encoding="utf-8") as out:
                out.write(text)
            os.chmod(config, 0o644)

        def rotate(*flags):
            run = subprocess.run([logrotate, *flags, "-s", state, config], capture_output=True, text=True, timeout=60)
            output = (run.stdout + run.stderr).strip()
            return run.returncode, output

        write_config(source)
        code, output = rotate("-d")
        f.check(code == 0 and "error" not in output.lower(), f"logrotate -d: exit {code}: {output[-500:]}")
        f.check(f"rotating pattern: {logs}/*.log" in output and "14 rotations" in output,
                "logrotate -d reads the pattern and 14 rotations")

        env = {k: v for k, v in os.environ.items() if not k.startswith("POINTTRON_")}
        env.update({k: v.replace(LOG_DIR, logs) for k, v in unit_env.items()})
        env["POINTTRON_LOG__STDOUT_ENABLED"] = "false"
        live = os.path.join(logs, "fetcher.log")
        open(os.path.join(logs, "alerter.log"), "w").close()  # empty: notifempty leaves it

        writer = Writer(args.writer, env)
        try:
            writer.write("line-0")
            code, output = rotate("-f")
            f.check(code == 0, f"logrotate -f: exit {code}: {output}")
            f.check(messages(read(live + ".1")) == [b"line-0"], "first rotation: the line moved to fetcher.log.1")
            f.check(read(live) == b"", "first rotation: fetcher.log truncated in place")
            f.check(not os.path.exists(os.path.join(logs, "alerter.log.1")), "an empty file is not rotated")
            writer.write("line-1")
            data = read(live)
            f.check(messages(data) == [b"line-1"] and data.startswith(b"{") and b"\0" not in data,
                    f"the sink writes on at offset 0 of the emptied file, no hole ({data[:40]!r})")

            code, output = rotate("-f")
            f.check(code == 0, f"second logrotate -f: exit {code}: {output}")
            f.check(messages(read(live + ".1")) == [b"line-1"], "second rotation: fetcher.log.1 uncompressed (delaycompress)")
            f.check(messages(read(live + ".2.gz")) == [b"line-0"], "second rotation: fetcher.log.2.gz compressed")

            for n in range(2, 18):
                writer.write(f"line-{n}")
                code, output = rotate("-f")
                f.check(code == 0, f"rotation {n + 1}: exit {code}: {output}")
            kept = sorted(name for name in os.listdir(logs) if name.startswith("fetcher.log."))
            f.check(len(kept) == 14 and "fetcher.log.14.gz" in kept and "fetcher.log.15.gz" not in kept,
                    f"14 rotated files kept (found {kept})")
            f.check(messages(read(live + ".14.gz")) == [b"line-4"], "the oldest kept file is the 14th last")
        finally:
            f.check(writer.close() == 0, "the writer exits cleanly")

        # The premise: renamed away, the file is not reopened; the sink follows the old inode.
        for name in os.listdir(logs):
            os.remove(os.path.join(logs, name))
        os.remove(state)
        write_config(source.replace("copytruncate", "create"))
        writer = Writer(args.writer, env)
        try:
            writer.write("before")
            code, output = rotate("-f")
            f.check(code == 0, f"logrotate -f with create: exit {code}: {output}")
            writer.write("after")
            f.check(messages(read(live + ".1")) == [b"before", b"after"] and read(live) == b"",
                    "without copytruncate the sink keeps writing into the renamed file "
                    "(if it now reopens its file, copytruncate can give way to create)")
        finally:
            writer.close()

    return f.report("logrotate")


if __name__ == "__main__":
    sys.exit(main())
