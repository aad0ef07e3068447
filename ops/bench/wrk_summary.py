#!/usr/bin/env python3
"""Reads `wrk --latency` output on stdin and prints it as bench/http_load does:
"load connections=C seconds=S requests=N requests_per_s=R p50_ms=… p90_ms=… p99_ms=… max_ms=…".
Exits non-zero when wrk reported failed requests (non-2xx answers or socket errors)."""
import re
import sys

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def ms(value):
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", value).groups()
    return float(number) * UNITS_MS[unit]


text = sys.stdin.read()
if "Non-2xx" in text or "Socket errors" in text:
    sys.exit("wrk reported failed requests:\n" + text)
max_latency = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", text).group(1)
percentiles = {p: ms(v) for p, v in re.findall(r"^\s+(50|90|99)%\s+(\S+)", text, re.M)}
requests, seconds = re.search(r"(\d+) requests in ([0-9.]+)s", text).groups()
rate = float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1))
print(f"load connections={sys.argv[1]} seconds={seconds} requests={requests} requests_per_s={rate:.0f} "
      f"p50_ms={percentiles['50']:.3f} p90_ms={percentiles['90']:.3f} p99_ms={percentiles['99']:.3f} "
      f"max_ms={ms(max_latency):.3f}")
