#!/usr/bin/env python3
"""Runs a Prometheus tool (promtool, amtool) with the given arguments and exits with its status.

A missing tool is a failure, not a skip: ops/install-deps.sh installs it (Debian packages
`prometheus` and `prometheus-alertmanager`). Looked up in PATH, then in /usr/bin.

  run_tool.py promtool check rules ops/prometheus/rules/pointtron.rules.yml
"""
import os
import shutil
import subprocess
import sys


def main(argv):
    if len(argv) < 2:
        print("usage: run_tool.py <tool> [arguments...]", file=sys.stderr)
        return 2
    tool = argv[1]
    path = shutil.which(tool) or shutil.which(tool, path="/usr/bin")
    if path is None:
        print(f"FAIL: {tool} not found in PATH or /usr/bin; run ops/install-deps.sh "
              "(Debian packages prometheus and prometheus-alertmanager).", file=sys.stderr)
        return 1
    command = [path] + argv[2:]
    print("$ " + " ".join(command) + f"    (in {os.getcwd()})", flush=True)
    return subprocess.run(command).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
