#!/usr/bin/env python3
"""Full-pipeline benchmark: tronsim (mainnet profile) -> fetcher -> decoder -> aggregator ->
persister (and the alerter) on the local broker, measured end to end, next to the broker's own
pass-through of the same records measured in the same run.

    ops/bench/pipeline.py                       # 10,000 blocks catch-up, then 100 live blocks
    ops/bench/pipeline.py --blocks 5000 --live-blocks 0 --perf

1. Catch-up: tronsim serves --blocks prerendered mainnet-size blocks at once; the five stages run
   on fresh topics and a fresh database, the fetcher from height 1. Timed from the fetcher's start
   to the last height's row in both `blocks` and `points` (SQLite, polled every 10 ms). Prints
   blocks/s, MB/s of node JSON, each process's CPU seconds, every stage's peak RSS and its RSS
   12 s after the catch-up (the runtime gives free heap pages back every 10 s).
2. Pass-through: the run's own blocks.raw records (read back with kcat) are produced by kcat into
   a fresh topic of the same settings while a second kcat consumes them: one hop through the
   broker with the same sizes, compression (lz4), acks=all and idempotence as the fetcher. The
   ratio pipeline / pass-through is printed.
3. Live: tronsim on the wall clock (a block per 3 s slot, as mainnet), the stages on fresh topics
   and a fresh database, the fetcher from the head. For every block after the first, the delay
   from tronsim's record of the moment it began serving the block (GET /admin/blocks) to the
   moment its row is in `blocks` and in `points`: p50, p90, p99, max. Then each stage's RSS.

With --perf, `perf record` samples the whole machine during the catch-up and the CPU split by
process and the hottest symbols of each stage are printed.

Settings: --build-dir (build), --brokers (127.0.0.1:9092), --skip-build, --partitions (the
topics' data partitions, default 6 as `pointtron topics create`), --env NAME=VALUE (a setting for
every stage, e.g. --env POINTTRON_FETCHER__MAX_IN_FLIGHT_BYTES=33554432). Needs kcat and the broker of
ops/kafka/broker.sh (or any broker at --brokers).
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STAGES = ["persister", "aggregator", "decoder", "alerter", "fetcher"]  # start order: sink first
SIM_PORT, FIRST_ADMIN_PORT = 18290, 19290
TICK = os.sysconf("SC_CLK_TCK")


def say(text):
    print("bench: " + text, file=sys.stderr, flush=True)


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def wait_for(condition, timeout_s, what, interval_s=0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval_s)
    raise SystemExit("bench: timed out after %d s waiting for %s" % (timeout_s, what))


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except OSError:
        return 0.0


def memory_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def busy_seconds():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]) / TICK


def broker_pid():
    found = subprocess.run(["pgrep", "-f", "kafka.Kafka"], capture_output=True, text=True).stdout.split()
    return int(found[0]) if found else None


def metric(port, name):
    try:
        text = http_get("http://127.0.0.1:%d/metrics" % port, timeout=2)
    except OSError:
        return None
    match = re.search(r"^%s(?:\{[^}]*\})? (\S+)$" % re.escape(name), text, re.M)
    return float(match.group(1)) if match else None


def percentile(values, p):
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Pipeline:
    """The five stages on topics of their own and a database of their own."""

    def __init__(self, args, work, name, tronsim_url, fetcher_start, start_height):
        self.args, self.work, self.name = args, work, name
        self.prefix = "bench-%s-%d-%d." % (name, os.getpid(), int(time.time()))
        self.data_dir = os.path.join(work, name, "persister")
        os.makedirs(self.data_dir)
        self.procs = {}
        self.ports = {stage: FIRST_ADMIN_PORT + i for i, stage in enumerate(STAGES)}
        self.env = {k: v for k, v in os.environ.items()
                    if not (k.startswith("POINTTRON_") and ("__" in k or k == "POINTTRON_CONFIG"))}
        self.env.update({
            "POINTTRON_KAFKA__BOOTSTRAP_SERVERS": args.brokers,
            "POINTTRON_KAFKA__TOPIC_PREFIX": self.prefix,
            "POINTTRON_KAFKA__DATA_PARTITIONS": str(args.partitions),
            "POINTTRON_LOG__LEVEL": "warn",
            "POINTTRON_FETCHER__NODE_URLS": tronsim_url,
            "POINTTRON_FETCHER__START": fetcher_start,
            "POINTTRON_FETCHER__NODE_RATE_LIMITS_RPS": "0",
            "POINTTRON_AGGREGATOR__START_HEIGHT": start_height,
            "POINTTRON_PERSISTER__DATA_DIR": self.data_dir,
        })
        self.env.update(args.env)
        subprocess.run([self.binary("pointtron"), "topics", "create"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)

    def binary(self, name):
        return os.path.join(self.args.build_dir, "bin", name)

    def start(self, stage):
        env = dict(self.env, POINTTRON_HTTP__PORT=str(self.ports[stage]),
                   POINTTRON_INSTANCE__ID="bench-" + stage)
        with open(os.path.join(self.work, self.name, stage + ".log"), "w") as log:
            self.procs[stage] = subprocess.Popen([self.binary("pointtron-" + stage)], env=env,
                                                 stdout=log, stderr=subprocess.STDOUT, cwd=self.work)

    def wait_ready(self, stage):
        def ready():
            if self.procs[stage].poll() is not None:
                raise SystemExit("bench: %s exited with %d (log: %s/%s/%s.log)" % (
                    stage, self.procs[stage].returncode, self.work, self.name, stage))
            try:
                http_get("http://127.0.0.1:%d/health" % self.ports[stage], timeout=1)
                return True
            except OSError as error:  # 503 while starting is an HTTPError: it answers
                return hasattr(error, "code")
        wait_for(ready, 60, stage + " to answer")

    def database(self):
        path = os.path.join(self.data_dir, "pointtron.db")
        wait_for(lambda: os.path.exists(path), 60, "the persister's database")
        return sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)

    def rss_mb(self):
        return {stage: memory_kb(p.pid, "VmRSS") / 1024 for stage, p in self.procs.items()}

    def peak_mb(self):
        return {stage: memory_kb(p.pid, "VmHWM") / 1024 for stage, p in self.procs.items()}

    def stop(self):
        for stage in reversed(STAGES):  # fetcher first, as `pointtron up` stops them
            process = self.procs.get(stage)
            if process and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def max_heights(db):
    row = db.execute("SELECT (SELECT max(height) FROM blocks), (SELECT max(height) FROM points)").fetchone()
    return row[0] or 0, row[1] or 0


def start_tronsim(args, work, name, sim_args):
    log = open(os.path.join(work, name + "-tronsim.log"), "w")
    process = subprocess.Popen([os.path.join(args.build_dir, "bin", "tronsim"), "serve", "--port",
                                str(SIM_PORT), "--profile", "mainnet"] + sim_args,
                               stdout=log, stderr=subprocess.STDOUT)

    def up():
        if process.poll() is not None:
            raise SystemExit("bench: tronsim exited (log: %s/%s-tronsim.log)" % (work, name))
        try:
            http_get("http://127.0.0.1:%d/admin/head" % SIM_PORT, timeout=1)
            return True
        except OSError:
            return False
    wait_for(up, 600, "tronsim to serve (prerendering)", 0.2)
    return process


def stop_process(process):
    if process and process.poll() is None:
        process.terminate()
        process.wait(timeout=30)


def perf_report(path):
    """CPU share by process, then the hottest symbols of each stage (% of that stage's samples)."""
    def report(*options):
        text = subprocess.run(["perf", "report", "-i", path, "--stdio", "--no-children", "-g", "none"]
                              + list(options), capture_output=True, text=True).stdout
        return [l.strip() for l in text.splitlines() if l.strip() and not l.startswith("#")]
    # By thread name and library: librdkafka's threads (rdk:*) are named alike in every stage.
    lines = ["CPU samples by thread and library (whole machine):"]
    lines += ["  " + " ".join(r.split()) for r in report("--sort", "comm,dso", "--percent-limit", "1")]
    for comm in ["pointtron-fetch", "pointtron-decod", "pointtron-aggre", "pointtron-persi"]:
        lines.append("hottest symbols of %s (%% of its samples):" % comm)
        rows = report("--comms", comm, "--sort", "dso,sym", "--percentage", "relative",
                      "--percent-limit", "2")
        lines += ["  " + " ".join(r.split())[:140] for r in rows[:12]]
    return "\n".join(lines)


def catch_up(args, work, results):
    blocks = args.blocks
    say("catch-up: tronsim prerenders %d mainnet-profile blocks" % blocks)
    sim = start_tronsim(args, work, "catchup", ["--head", str(blocks), "--prerender"])
    pipeline = Pipeline(args, work, "catchup", "http://127.0.0.1:%d" % SIM_PORT, "1", "1")
    broker = broker_pid()
    perf = None
    try:
        for stage in STAGES[:-1]:
            pipeline.start(stage)
            pipeline.wait_ready(stage)
        db = pipeline.database()
        load = os.getloadavg()[0]
        before = {"tronsim": cpu_seconds(sim.pid), "broker": cpu_seconds(broker) if broker else 0,
                  "busy": busy_seconds()}
        before.update({s: cpu_seconds(p.pid) for s, p in pipeline.procs.items()})
        if args.perf:
            perf = subprocess.Popen(["perf", "record", "-a", "-g", "-F", "299", "-o",
                                     os.path.join(work, "perf.data")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        pipeline.start("fetcher")
        peak = {}

        def finished():
            for stage, process in pipeline.procs.items():
                if process.poll() is not None:
                    raise SystemExit("bench: %s exited with %d during the catch-up" % (stage, process.returncode))
                peak[stage] = max(peak.get(stage, 0), memory_kb(process.pid, "VmRSS") / 1024)
            return max_heights(db) == (blocks, blocks)
        wait_for(finished, args.timeout, "the last height in SQLite", 0.01)
        elapsed = time.monotonic() - t0
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        after = {"tronsim": cpu_seconds(sim.pid), "broker": cpu_seconds(broker) if broker else 0,
                 "busy": busy_seconds()}
        after.update({s: cpu_seconds(p.pid) for s, p in pipeline.procs.items()})
        fetched_bytes = metric(pipeline.ports["fetcher"], "point_tron_fetcher_fetched_bytes_total") or 0
        hwm = pipeline.peak_mb()
        say("catch-up done in %.1f s; RSS 12 s later" % elapsed)
        time.sleep(12)  # the measured quantity: RSS after the runtime's 10 s heap trim
        settled = pipeline.rss_mb()
        cpu = {k: after[k] - before.get(k, 0.0) for k in after}  # the fetcher started at 0
        results["catchup"] = {
            "blocks": blocks, "seconds": round(elapsed, 2), "blocks_per_s": round(blocks / elapsed),
            "node_json_mb_per_s": round(fetched_bytes / elapsed / 1e6, 1),
            "node_json_bytes": int(fetched_bytes), "load_average_before": load,
            "cpu_s": {k: round(v, 1) for k, v in cpu.items()},
            "cpu_available_s": round(os.cpu_count() * elapsed, 1),
            "peak_rss_mb": {s: round(max(peak.get(s, 0), hwm[s])) for s in hwm},
            "rss_after_mb": {s: round(v) for s, v in settled.items()},
        }
        if perf:
            results["catchup"]["profile"] = perf_report(os.path.join(work, "perf.data"))
        raw_topic = pipeline.prefix + "blocks.raw"
        return raw_topic, pipeline
    finally:
        pipeline.stop()
        stop_process(sim)


def pass_through(args, work, raw_topic, results):
    blocks = args.blocks
    dump = os.path.join(work, "raw-records")
    say("pass-through: reading the %d records of %s back" % (blocks, raw_topic))
    with open(dump, "wb") as out:
        subprocess.run(["kcat", "-C", "-b", args.brokers, "-t", raw_topic, "-o", "beginning", "-e",
                        "-q", "-c", str(blocks), "-f", "%s\n"], stdout=out, check=True)
    with open(dump, "rb") as f:
        records = sum(1 for _ in f)
    if records != blocks:
        raise SystemExit("bench: %d records read back from %s, expected %d (a record with a "
                         "newline?)" % (records, raw_topic, blocks))
    size = os.path.getsize(dump) - records
    # A topic with the pipeline's settings: `topics create` under a prefix of its own.
    prefix = "bench-passthrough-%d-%d." % (os.getpid(), int(time.time()))
    env = dict(os.environ, POINTTRON_KAFKA__BOOTSTRAP_SERVERS=args.brokers,
               POINTTRON_KAFKA__TOPIC_PREFIX=prefix,
               POINTTRON_KAFKA__DATA_PARTITIONS=str(args.partitions))
    subprocess.run([os.path.join(args.build_dir, "bin", "pointtron"), "topics", "create"], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    topic = prefix + "blocks.raw"
    subprocess.run(["sync"], check=True)
    t0 = time.monotonic()
    consumer = subprocess.Popen(["kcat", "-C", "-b", args.brokers, "-G", prefix + "group", topic,
                                 "-c", str(blocks), "-q", "-X", "auto.offset.reset=earliest"],
                                stdout=subprocess.DEVNULL)
    producer = subprocess.run(["kcat", "-P", "-b", args.brokers, "-t", topic, "-z", "lz4",
                               "-X", "acks=all", "-X", "enable.idempotence=true",
                               "-X", "linger.ms=5", "-l", dump], check=True)
    produced = time.monotonic() - t0
    try:
        consumer.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        consumer.kill()
        raise SystemExit("bench: the pass-through consumer did not read %d records" % blocks)
    elapsed = time.monotonic() - t0
    os.remove(dump)
    results["pass_through"] = {
        "records": blocks, "record_bytes_mean": round(size / blocks), "seconds": round(elapsed, 2),
        "produce_seconds": round(produced, 2), "records_per_s": round(blocks / elapsed),
        "mb_per_s": round(size / elapsed / 1e6, 1),
    }
    catch = results["catchup"]
    results["ratio_pipeline_to_pass_through"] = round(catch["blocks_per_s"] / (blocks / elapsed), 3)


def live(args, work, results):
    count = args.live_blocks
    say("live: tronsim on the wall clock, %d blocks (about %d s)" % (count, count * 3))
    sim = start_tronsim(args, work, "live", ["--wall-clock", "--start-height", "1000"])
    head = json.loads(http_get("http://127.0.0.1:%d/admin/head" % SIM_PORT))
    head_height = head["head"]
    pipeline = Pipeline(args, work, "live", "http://127.0.0.1:%d" % SIM_PORT, "head", "auto")
    try:
        for stage in STAGES:
            pipeline.start(stage)
            pipeline.wait_ready(stage)
        db = pipeline.database()
        seen_block, seen_point = {}, {}
        first = [None]

        def poll():
            for stage, process in pipeline.procs.items():
                if process.poll() is not None:
                    raise SystemExit("bench: %s exited with %d during the live run" % (stage, process.returncode))
            now_ms = time.time() * 1000
            top_block, top_point = max_heights(db)
            if first[0] is None and top_block:
                first[0] = top_block  # the head at the fetcher's start: not a live block
            for table, top in ((seen_block, top_block), (seen_point, top_point)):
                if first[0] is None:
                    continue
                for height in range(first[0] + 1, top + 1):
                    table.setdefault(height, now_ms)
            return first[0] is not None and len(seen_point) >= count and len(seen_block) >= count
        wait_for(poll, count * 3 + 120, "%d live blocks in SQLite" % count, 0.01)
        last = first[0] + count
        produced = json.loads(http_get("http://127.0.0.1:%d/admin/blocks?from=%d&to=%d" % (
            SIM_PORT, first[0] + 1, last)))["blocks"]
        produced = {b["height"]: b["produced_at_ms"] for b in produced}
        delays = {"blocks_row": [], "points_row": []}
        for height in range(first[0] + 1, last + 1):
            if height not in produced:
                raise SystemExit("bench: tronsim has no production time for height %d" % height)
            delays["blocks_row"].append(seen_block[height] - produced[height])
            delays["points_row"].append(seen_point[height] - produced[height])
        results["live"] = {"blocks": count, "first_height": first[0] + 1, "head_at_start": head_height,
                           "poll_interval_ms": 10}
        for name, values in delays.items():
            results["live"][name + "_delay_ms"] = {
                "p50": round(statistics.median(values)), "p90": round(percentile(values, 90)),
                "p99": round(percentile(values, 99)), "max": round(max(values)),
                "min": round(min(values))}
        results["live"]["rss_mb"] = {s: round(v) for s, v in pipeline.rss_mb().items()}
        results["live"]["peak_rss_mb"] = {s: round(v) for s, v in pipeline.peak_mb().items()}
    finally:
        pipeline.stop()
        stop_process(sim)


def delete_topics(args, prefixes):
    listed = subprocess.run(["kcat", "-b", args.brokers, "-L", "-J"], capture_output=True, text=True)
    try:
        topics = [t["topic"] for t in json.loads(listed.stdout)["topics"]]
    except ValueError:
        return
    victims = [t for t in topics if any(t.startswith(p) for p in prefixes)]
    tool = os.path.join(args.build_dir, "bench", "kafka_throughput")
    if os.path.exists(tool):
        for topic in victims:
            subprocess.run([tool, "delete-topic", "--brokers", args.brokers, "--topic", topic],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_report(results):
    c = results.get("catchup")
    if c:
        print("catch-up: %d blocks in %.1f s: %d blocks/s, %.1f MB/s of node JSON (load %.2f before)" % (
            c["blocks"], c["seconds"], c["blocks_per_s"], c["node_json_mb_per_s"], c["load_average_before"]))
        print("  CPU s: " + ", ".join("%s %.1f" % kv for kv in c["cpu_s"].items() if kv[0] != "busy") +
              "; machine busy %.1f of %.1f" % (c["cpu_s"]["busy"], c["cpu_available_s"]))
        print("  peak RSS MB: " + ", ".join("%s %d" % kv for kv in c["peak_rss_mb"].items()))
        print("  RSS 12 s after MB: " + ", ".join("%s %d" % kv for kv in c["rss_after_mb"].items()))
    p = results.get("pass_through")
    if p:
        print("pass-through (kcat produce -> broker -> kcat consume, same records): %d records of "
              "%d B in %.1f s: %d records/s, %.1f MB/s" % (p["records"], p["record_bytes_mean"],
                                                          p["seconds"], p["records_per_s"], p["mb_per_s"]))
        print("  pipeline / pass-through: %.1f %%" % (100 * results["ratio_pipeline_to_pass_through"]))
    lv = results.get("live")
    if lv:
        for name in ("blocks_row", "points_row"):
            d = lv[name + "_delay_ms"]
            print("live delay to the %s (ms, %d blocks): p50 %d, p90 %d, p99 %d, max %d" % (
                name.replace("_", " "), lv["blocks"], d["p50"], d["p90"], d["p99"], d["max"]))
        print("  RSS MB at steady state: " + ", ".join("%s %d" % kv for kv in lv["rss_mb"].items()))
    if c and "profile" in c:
        print(c["profile"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=10000, help="catch-up blocks (0: skip)")
    parser.add_argument("--live-blocks", type=int, default=100, help="live blocks (0: skip)")
    parser.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--perf", action="store_true", help="profile the catch-up with perf")
    parser.add_argument("--timeout", type=int, default=900, help="seconds a phase may take")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--env", action="append", default=[], metavar="POINTTRON_X__Y=VALUE",
                        help="a setting for every stage (repeatable); other POINTTRON_ variables "
                             "of the caller are not passed on")
    args = parser.parse_args()
    args.build_dir = os.path.abspath(args.build_dir)
    if any("=" not in item for item in args.env):
        parser.error("--env takes NAME=VALUE")
    args.env = dict(item.split("=", 1) for item in args.env)
    for tool in ["kcat"] + (["perf"] if args.perf else []):
        if not shutil.which(tool):
            raise SystemExit("bench: %s is missing (ops/install-deps.sh installs it)" % tool)
    if not args.skip_build:
        subprocess.run(["cmake", "--build", args.build_dir, "--target", "tronsim", "pointtron",
                        "kafka_throughput"] + ["pointtron-" + s for s in STAGES], check=True,
                       stdout=subprocess.DEVNULL)
    if subprocess.run(["kcat", "-b", args.brokers, "-L", "-m", "5"], capture_output=True).returncode:
        raise SystemExit("bench: no broker answers on %s (ops/kafka/broker.sh start)" % args.brokers)
    work = tempfile.mkdtemp(prefix="pointtron-bench-")
    results = {"machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()[0]}}
    prefixes = []
    try:
        if args.blocks:
            raw_topic, pipeline = catch_up(args, work, results)
            prefixes.append(pipeline.prefix)
            prefixes.append("bench-passthrough-%d-" % os.getpid())
            pass_through(args, work, raw_topic, results)
        if args.live_blocks:
            live(args, work, results)
    finally:
        delete_topics(args, prefixes + ["bench-live-%d-" % os.getpid()])
        shutil.rmtree(work, ignore_errors=True)
    print_report(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
