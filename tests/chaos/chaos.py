#!/usr/bin/env python3
"""End-to-end chaos run of point-tron: tronsim -> fetcher -> decoder -> aggregator -> persister
(+ alerter) on a real Kafka broker of its own, while stages are SIGKILLed and restarted, the broker
is restarted, the node answers with injected faults and forks; then the database is checked
against the node's final chain by the independent checker (check.py).

    tests/chaos/chaos.py --build-dir build            # the short run (also ctest chaos_short)
    tests/chaos/chaos.py --long --build-dir build     # >= 100 kills, 5 broker restarts

Exit status: 0 when the run settled, the checker found every row right and no process outlived a
fatal Kafka client error; 1 otherwise; 2 when the run could not be set up (a binary missing, the
broker not starting). See tests/chaos/README.md.
"""

import argparse
import calendar
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
STAGES = ["fetcher", "decoder", "aggregator", "persister", "alerter"]
KILLABLE = ["fetcher", "decoder", "aggregator", "persister"]
CONSUMERS = {"decoder", "aggregator", "persister", "alerter"}
PREFIX = "chaos."
UTC_OFFSET = "+08:00"
PARITY_WINDOW = 1000
FORK_DEPTH_MAX = 8            # <= fetcher.max_fork_depth_blocks (32) and the aggregator's 64
# 2023-11-15T00:00+08:00 minus 30 min: the chain crosses a local midnight early on. Block times in
# the past keep the fetcher's live polls (aimed at "block time + 3 s") immediate.
FIRST_TIMESTAMP_MS = 1_699_977_600_000 - 1_800_000
FIRST_HEIGHT = 60_000_000

PROFILES = {
    # blocks, kills, broker restarts, forks, own deadline (s)
    "short": dict(blocks=3000, kills=20, broker_restarts=1, forks=1, deadline_s=840),
    "long": dict(blocks=15000, kills=120, broker_restarts=5, forks=3, deadline_s=3600),
}

# Node faults (docs/tronsim.md "Fault model"): tried in order, the first that fires answers.
FAULTS = [
    {"kind": "http_error", "status": 503, "probability": 0.05},
    {"kind": "http_error", "status": 429, "probability": 0.02, "retry_after_s": 1},
    {"kind": "http_error", "status": 500, "probability": 0.02},
    {"kind": "java_error", "probability": 0.01},
    {"kind": "empty", "probability": 0.03, "path": "getblockbylimitnext"},
    {"kind": "truncate", "probability": 0.02},
    {"kind": "reset", "probability": 0.02},
    {"kind": "stall", "probability": 0.015},
]


class Abort(Exception):
    """The run cannot go on (setup failure, configuration error of a stage, own deadline)."""


def now():
    return time.monotonic()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_pair():
    """P with P and P + 1 free (the broker's client and controller ports)."""
    for port in random.Random().sample(range(20100, 29998, 2), 300):
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
                return port
        except OSError:
            continue
    raise Abort("no free port pair for the broker")


def http(method, url, body=None, timeout=5):
    """(status, text), or (0, error text) when the request failed."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except (OSError, ValueError) as error:
        return 0, str(error)


def metric(port, name):
    """The first unlabelled-or-labelled sample of `name` on a stage's /metrics, or None."""
    status, text = http("GET", "http://127.0.0.1:%d/metrics" % port, timeout=2)
    if status != 200:
        return None
    match = re.search(r"^%s(?:\{[^}]*\})? ([-+0-9.eE]+|NaN)$" % re.escape(name), text, re.M)
    return float(match.group(1)) if match else None


def process_gone(pid):
    """True once `pid` has exited (a zombie counts: its sockets are closed)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def find_key(value, key):
    if isinstance(value, dict):
        if key in value:
            return value[key]
        for item in value.values():
            found = find_key(item, key)
            if found is not None:
                return found
    return None


def wait_for(condition, deadline_s, period_s=0.2):
    """Polls `condition` until it returns something truthy (returned) or the deadline passes."""
    end = now() + deadline_s
    while True:
        result = condition()
        if result:
            return result
        if now() >= end:
            return None
        time.sleep(period_s)


class Run:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.work = args.work_dir or tempfile.mkdtemp(prefix="pointtron-chaos-")
        os.makedirs(os.path.join(self.work, "logs"), exist_ok=True)
        self.events = open(os.path.join(self.work, "chaos.log"), "a")
        self.t0 = now()
        self.procs = {}            # stage -> Popen
        self.restart_at = {}       # stage -> monotonic time of the pending restart
        self.ports = {stage: free_port() for stage in STAGES}
        self.kills = {stage: 0 for stage in KILLABLE}
        self.crashes = []          # unexpected exits
        self.starts = {stage: 0 for stage in STAGES}
        self.broker_restarts = []
        self.forks = []
        self.tronsim = None
        self.broker_port = None
        self.head = None
        self.deadline = self.t0 + args.deadline_s
        self.observed = {}         # (stage, pid) -> {metric: last value}
        self.lives = []            # every process of a stage: pid, wall-clock span, how it ended

    # --- bookkeeping --------------------------------------------------------------------------

    def log(self, message):
        line = "[%7.1f s] %s" % (now() - self.t0, message)
        self.events.write(line + "\n")
        self.events.flush()
        if self.args.verbose:
            print("chaos: " + line, flush=True)

    def say(self, message):
        self.log(message)
        if not self.args.verbose:
            print("chaos: [%6.1f s] %s" % (now() - self.t0, message), flush=True)

    def check_deadline(self):
        if now() > self.deadline:
            raise Abort("the run exceeded its own deadline of %d s" % self.args.deadline_s)

    # --- the broker ---------------------------------------------------------------------------

    def broker_env(self):
        env = dict(os.environ)
        env.update(KAFKA_PORT=str(self.broker_port), KAFKA_DATA_DIR=os.path.join(self.work, "kafka"),
                   KAFKA_HEAP_MB=str(self.args.broker_heap_mb))
        return env

    def broker(self, command, wait=True):
        argv = ["bash", os.path.join(self.args.source_dir, "ops/kafka/broker.sh"), command]
        log = open(os.path.join(self.work, "logs", "broker-script.log"), "a")
        process = subprocess.Popen(argv, env=self.broker_env(), stdout=log, stderr=subprocess.STDOUT)
        if wait:
            return process.wait(timeout=180)
        return process

    def broker_pid(self):
        try:
            with open(os.path.join(self.work, "kafka", "broker.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def bootstrap(self):
        return "127.0.0.1:%d" % self.broker_port

    def end_offsets(self, topic, partitions):
        """{partition: end offset} of `topic` (kcat's offset query), or None when unavailable."""
        argv = ["kcat", "-b", self.bootstrap(), "-Q"]
        for partition in range(partitions):
            argv += ["-t", "%s%s:%d:-1" % (PREFIX, topic, partition)]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        except subprocess.TimeoutExpired:
            return None
        offsets = {}
        for match in re.finditer(r"^\S+ \[(\d+)\] offset (-?\d+)$", out.stdout, re.M):
            offsets[int(match.group(1))] = int(match.group(2))
        return offsets if len(offsets) == partitions else None

    # --- tronsim ------------------------------------------------------------------------------

    def start_tronsim(self):
        log_path = os.path.join(self.work, "logs", "tronsim.log")
        argv = [self.args.tronsim, "serve", "--port", "0", "--profile", "mainnet",
                "--seed", str(self.args.chain_seed), "--first-height", str(FIRST_HEIGHT),
                "--first-timestamp-ms", str(FIRST_TIMESTAMP_MS),
                "--missed-slot-rate", "0.02", "--head", str(FIRST_HEIGHT + 99),
                "--faults-json", json.dumps({"seed": self.args.seed, "rules": FAULTS})]
        self.tronsim = subprocess.Popen(argv, stdout=open(log_path, "a"), stderr=subprocess.STDOUT,
                                        start_new_session=True)

        def listening():
            with open(log_path) as lines:
                for line in lines:
                    if "Listening." in line:
                        return find_key(json.loads(line), "port")
            if self.tronsim.poll() is not None:
                raise Abort("tronsim exited with %s (see %s)" % (self.tronsim.returncode, log_path))
            return None

        port = wait_for(listening, 30, 0.05)
        if not port:
            raise Abort("tronsim did not listen within 30 s")
        self.tronsim_url = "http://127.0.0.1:%d" % port
        self.head = FIRST_HEIGHT + 99

    def set_head(self, height):
        status, text = http("POST", self.tronsim_url + "/admin/head", {"height": height})
        if status != 200:
            raise Abort("POST /admin/head: %d %s" % (status, text))
        self.head = height

    # --- stages -------------------------------------------------------------------------------

    def common_env(self):
        # Only what is set here: a developer's POINTTRON_* settings must not leak into the run.
        env = {k: v for k, v in os.environ.items()
               if not (k.startswith("POINTTRON_") and ("__" in k or k == "POINTTRON_CONFIG"))}
        env.update({
            "POINTTRON_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap(),
            "POINTTRON_KAFKA__TOPIC_PREFIX": PREFIX,
            "POINTTRON_KAFKA__DATA_PARTITIONS": str(self.args.data_partitions),
        })
        return env

    def stage_env(self, stage):
        env = self.common_env()
        env.update({
            "POINTTRON_INSTANCE__ID": "chaos-" + stage,
            "POINTTRON_HTTP__PORT": str(self.ports[stage]),
        })
        if stage in CONSUMERS:
            # Static membership: a restarted consumer takes its partitions back at once instead of
            # after the killed member's session timeout (stages/aggregator/README.md).
            env["POINTTRON_KAFKA__RDKAFKA__GROUP_INSTANCE_ID"] = "chaos-" + stage
        if stage == "fetcher":
            env.update({
                "POINTTRON_FETCHER__NODE_URLS": self.tronsim_url,
                "POINTTRON_FETCHER__START": str(FIRST_HEIGHT),
                # Stalled requests end after 2 s, and an open breaker stays open 5 s at most, so
                # injected faults cost seconds, not minutes.
                "POINTTRON_FETCHER__REQUEST_TIMEOUT_MS": "2000",
                "POINTTRON_FETCHER__RETRY_MAX_BACKOFF_MS": "2000",
                "POINTTRON_FETCHER__BREAKER_OPEN_MAX_MS": "5000",
                "POINTTRON_FETCHER__NODE_RATE_LIMITS_RPS": "0",
            })
        elif stage == "aggregator":
            env.update({
                "POINTTRON_AGGREGATOR__START_HEIGHT": str(FIRST_HEIGHT),
                "POINTTRON_AGGREGATOR__UTC_OFFSET": UTC_OFFSET,
                "POINTTRON_AGGREGATOR__PARITY_WINDOW_BLOCKS": str(PARITY_WINDOW),
            })
        elif stage == "persister":
            env["POINTTRON_PERSISTER__DATA_DIR"] = os.path.join(self.work, "persister")
        return env

    def start_stage(self, stage):
        log = open(os.path.join(self.work, "logs", stage + ".log"), "a")
        self.procs[stage] = subprocess.Popen([self.args.bin[stage]], env=self.stage_env(stage),
                                             stdout=log, stderr=subprocess.STDOUT,
                                             cwd=self.work, start_new_session=True)
        self.starts[stage] += 1
        self.lives.append({"stage": stage, "pid": self.procs[stage].pid, "from": time.time(),
                           "to": None, "end": None})
        self.log("started %s (pid %d)" % (stage, self.procs[stage].pid))

    def ended(self, stage, pid, how):
        for life in reversed(self.lives):
            if life["stage"] == stage and life["pid"] == pid:
                life["to"], life["end"] = time.time(), how
                return

    def supervise(self):
        """Restarts due stages; notices stages that exited without being killed."""
        for stage, process in list(self.procs.items()):
            if process is None:
                continue
            code = process.poll()
            if code is None:
                continue
            self.procs[stage] = None
            self.ended(stage, process.pid, "exited with %d" % code)
            if code in (64, 78):
                raise Abort("%s exited with %d (configuration); see logs/%s.log" % (stage, code, stage))
            self.crashes.append({"stage": stage, "exit": code, "at_s": round(now() - self.t0, 1)})
            self.say("%s exited by itself with %d; restarting it in 1 s" % (stage, code))
            self.restart_at[stage] = now() + 1.0
        for stage, at in list(self.restart_at.items()):
            if now() >= at:
                del self.restart_at[stage]
                self.start_stage(stage)

    def kill_stage(self, stage):
        process = self.procs[stage]
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        self.procs[stage] = None
        self.ended(stage, process.pid, "SIGKILL by the chaos")
        self.kills[stage] += 1
        delay = self.rng.uniform(0.1, 1.0)
        self.restart_at[stage] = now() + delay
        self.log("SIGKILL %s (pid %d, kill %d); restart in %.1f s" % (
            stage, process.pid, sum(self.kills.values()), delay))

    # Per-process counters (fetcher forks, aggregator rollbacks), summed over process lifetimes:
    # scraped while the process runs; what a process counted after its last scrape is lost.
    WATCHED = {"fetcher": ["point_tron_fetcher_forks_total",
                           "point_tron_fetcher_retracted_blocks_total"],
               "aggregator": ["point_tron_aggregator_rollbacks_total",
                              "point_tron_aggregator_rolled_back_blocks_total"]}

    def observe(self):
        for stage, names in self.WATCHED.items():
            process = self.procs.get(stage)
            if process is None:
                continue
            seen = self.observed.setdefault((stage, process.pid), {})
            for name in names:
                value = metric(self.ports[stage], name)
                if value is not None:
                    seen[name] = max(seen.get(name, 0), value)

    def observed_totals(self):
        totals = {}
        for (stage, pid), values in self.observed.items():
            for name, value in values.items():
                totals[name] = totals.get(name, 0) + int(value)
        return totals

    # --- the run ------------------------------------------------------------------------------

    def setup(self):
        for name, path in self.args.bin.items():
            if not os.access(path, os.X_OK):
                raise Abort("%s: not built (%s)" % (name, path))
        if shutil.which("kcat") is None:
            raise Abort("kcat is missing (ops/install-deps.sh installs it)")
        self.broker_port = free_port_pair()
        self.say("work directory %s, seed %d" % (self.work, self.args.seed))
        if self.broker("start") != 0:
            raise Abort("the broker did not start; see %s/logs/broker-script.log" % self.work)
        self.say("broker on %s" % self.bootstrap())
        self.start_tronsim()
        self.say("tronsim on %s (mainnet profile, %d fault rules)" % (self.tronsim_url, len(FAULTS)))
        create = subprocess.run([self.args.cli, "topics", "create"], env=self.common_env(), capture_output=True,
                                text=True, timeout=120)
        if create.returncode != 0:
            raise Abort("pointtron topics create: %s" % create.stderr.strip())
        for stage in STAGES:
            self.start_stage(stage)

    def chaos(self):
        a = self.args
        first_head = FIRST_HEIGHT + 99
        final_head = FIRST_HEIGHT + a.blocks - 1
        # Head pace: the blocks take about as long as the kills (mean 3.5 s apart) plus ~20 s per
        # broker restart, so the chain keeps growing during most of the chaos.
        rate = a.rate or max(5.0, (final_head - first_head) / (a.kills * 3.5 + a.broker_restarts * 20))
        restart_after = [round(a.kills * (i + 1) / (a.broker_restarts + 1))
                         for i in range(a.broker_restarts)]
        fork_heights = [FIRST_HEIGHT + round(a.blocks * (i + 1) / (a.forks + 1)) for i in range(a.forks)]
        self.say("chaos: %d blocks at %.1f blocks/s, %d kills, broker restarts after kills %s, "
                 "forks at heights %s" % (a.blocks, rate, a.kills, restart_after, fork_heights))
        started = now()
        next_kill = now() + self.rng.uniform(2, 5)
        next_observe = now()
        next_progress = now()
        broker_job = None          # (phase, Popen, started) of the restart in progress
        fork_wait_since = None
        while True:
            self.check_deadline()
            t = now()
            self.supervise()
            # The head: the driver is the chain's clock; tronsim is in catch-up mode.
            target = min(final_head, first_head + int((t - started) * rate))
            if fork_heights and target >= fork_heights[0]:
                target = fork_heights[0]  # hold the head at the fork height until the fork
            if target > self.head:
                self.set_head(target)
            if fork_heights and self.head == fork_heights[0]:
                # The fork should orphan blocks every stage has already handled: wait (at most
                # 30 s) until the fetcher emitted, the aggregator folded and the persister stored
                # the fork height.
                fork_wait_since = fork_wait_since or t
                progress = self.progress()
                caught_up = all(v is not None and v >= self.head for v in progress.values())
                if caught_up or t - fork_wait_since > 30:
                    depth = self.rng.randint(2, FORK_DEPTH_MAX)
                    status, text = http("POST", self.tronsim_url + "/admin/fork",
                                        {"depth": depth, "advance": 1})
                    if status != 200:
                        raise Abort("POST /admin/fork: %d %s" % (status, text))
                    answer = json.loads(text)
                    self.head = answer["head"]
                    self.forks.append({"at_height": fork_heights[0], "depth": depth,
                                       "from_height": answer["from_height"],
                                       "pipeline_at_fork": progress, "caught_up": caught_up})
                    self.say("fork: depth %d from height %d (pipeline at %s)" % (
                        depth, answer["from_height"], progress))
                    fork_heights.pop(0)
                    fork_wait_since = None
            # Kills.
            if sum(self.kills.values()) < a.kills and t >= next_kill:
                alive = [s for s in KILLABLE if self.procs.get(s) is not None]
                if alive:
                    self.kill_stage(self.rng.choice(alive))
                next_kill = t + self.rng.uniform(2, 5)
            # Broker restarts: SIGKILL of the JVM and graceful stops, alternately, without pausing
            # the kills.
            if broker_job is None and restart_after and sum(self.kills.values()) >= restart_after[0]:
                restart_after.pop(0)
                hard = len(self.broker_restarts) % 2 == 0
                if hard:
                    pid = self.broker_pid()
                    if pid:
                        os.kill(pid, signal.SIGKILL)
                        # Gone (or a zombie) before `start`, which would otherwise find the
                        # dying JVM still answering and return at once.
                        if not wait_for(lambda: process_gone(pid), 30, 0.05):
                            raise Abort("the broker (pid %d) survived SIGKILL for 30 s" % pid)
                    broker_job = ("start", self.broker("start", wait=False), t, hard)
                else:
                    broker_job = ("stop", self.broker("stop", wait=False), t, hard)
                self.say("broker restart %d (%s)" % (len(self.broker_restarts) + 1,
                                                     "SIGKILL" if hard else "stop"))
            if broker_job is not None:
                phase, process, began, hard = broker_job
                code = process.poll()
                if code is not None:
                    if code != 0:
                        raise Abort("broker.sh %s exited with %d" % (phase, code))
                    if phase == "stop":
                        broker_job = ("start", self.broker("start", wait=False), began, hard)
                    else:
                        self.broker_restarts.append({"kind": "SIGKILL" if hard else "stop",
                                                     "down_s": round(now() - began, 1)})
                        self.say("broker back after %.1f s" % (now() - began))
                        broker_job = None
            if t >= next_observe:
                self.observe()
                next_observe = t + 1.0
            if t >= next_progress:
                self.log("head %d, %s" % (self.head, self.progress()))
                next_progress = t + 10.0
            done = (sum(self.kills.values()) >= a.kills and not restart_after and broker_job is None
                    and not fork_heights and self.head >= final_head)
            if done:
                break
            time.sleep(0.05)  # the schedule's tick
        self.final_head = self.head
        self.chaos_s = now() - started
        self.say("chaos over after %.0f s: %d kills %s, final head %d" % (
            self.chaos_s, sum(self.kills.values()), self.kills, self.final_head))

    def db_max_height(self):
        db = os.path.join(self.work, "persister", "pointtron.db")
        if not os.path.exists(db):
            return None
        try:
            connection = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
            try:
                return connection.execute("SELECT max(height) FROM blocks").fetchone()[0]
            finally:
                connection.close()
        except sqlite3.Error:
            return None

    def progress(self):
        """Where each stage is: the fetcher's emitted height, the aggregator's folded height, the
        highest block in SQLite (None when unknown, e.g. the stage is restarting)."""
        def scrape(stage, name):
            if self.procs.get(stage) is None:
                return None
            value = metric(self.ports[stage], name)
            return int(value) if value is not None else None
        return {"fetcher_emitted": scrape("fetcher", "point_tron_fetcher_last_emitted_height"),
                "aggregator_folded": scrape("aggregator", "point_tron_aggregator_folded_height"),
                "persister_stored": self.db_max_height()}

    def settled(self):
        """None, or a description of the settled state: every height in SQLite, the persister's
        stored offsets at the ends of `blocks` and `stats`, the aggregator at the final head."""
        self.supervise()
        self.observe()
        if any(self.procs.get(s) is None for s in STAGES):
            self.settle_state = "a stage is restarting"
            return None
        folded = metric(self.ports["aggregator"], "point_tron_aggregator_folded_height")
        emitted = metric(self.ports["fetcher"], "point_tron_fetcher_last_emitted_height")
        db = os.path.join(self.work, "persister", "pointtron.db")
        state = {"fetcher_emitted": emitted, "aggregator_folded": folded}
        if not os.path.exists(db):
            self.settle_state = state
            return None
        try:
            connection = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
            try:
                state["blocks"] = connection.execute(
                    "SELECT count(*), max(height) FROM blocks").fetchone()
                state["points"] = connection.execute(
                    "SELECT count(*), max(height) FROM points").fetchone()
                offsets = {}
                for topic, partition, next_offset in connection.execute(
                        "SELECT topic, partition, next_offset FROM kafka_offsets"):
                    offsets[(topic, partition)] = next_offset
            finally:
                connection.close()
        except sqlite3.Error as error:
            self.settle_state = "sqlite: %s" % error
            return None
        ends = {}
        for topic, partitions in (("blocks", self.args.data_partitions), ("stats", 3)):
            end = self.end_offsets(topic, partitions)
            if end is None:
                self.settle_state = dict(state, offsets="end offsets of %s unavailable" % topic)
                return None
            for partition, offset in end.items():
                ends[(PREFIX + topic, partition)] = offset
        lagging = {"%s/%d" % k: (offsets.get(k, 0), v) for k, v in ends.items()
                   if v > 0 and offsets.get(k, 0) < v}
        state["persister_lag"] = lagging
        self.settle_state = state
        count = self.final_head - FIRST_HEIGHT + 1
        ok = (folded == self.final_head and emitted == self.final_head and not lagging
              and tuple(state["blocks"]) == (count, self.final_head)
              and tuple(state["points"]) == (count, self.final_head))
        return (ok, json.dumps(sorted(ends.items()))) if ok else None

    def settle(self):
        """Waits (bounded) until the pipeline settled twice in a row, 2 s apart, with the topics'
        ends unchanged."""
        started = now()
        previous = None
        end = now() + self.args.settle_s
        last_report = now()
        while now() < end:
            self.check_deadline()
            result = self.settled()
            if result:
                if previous == result[1]:
                    self.say("settled after %.0f s" % (now() - started))
                    self.settle_s = now() - started
                    return True
                previous = result[1]
            else:
                previous = None
            if now() - last_report > 30:
                self.say("settling: %s" % (self.settle_state,))
                last_report = now()
            time.sleep(2.0 if result else 1.0)  # polling interval of the condition
        self.settle_s = now() - started
        self.say("did not settle within %d s: %s" % (self.args.settle_s, self.settle_state))
        return False

    def stop_stages(self):
        exits = {}
        for stage in STAGES:  # upstream first, as `pointtron up` does
            self.restart_at.pop(stage, None)
            process = self.procs.get(stage)
            if process is None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                exits[stage] = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                exits[stage] = "killed after 30 s"
                process.wait()
            self.procs[stage] = None
            self.ended(stage, process.pid, "SIGTERM at the end")
        return exits

    def count_retractions(self):
        """Distinct (height, block_id) retractions on `blocks` (the decoder's output)."""
        argv = ["kcat", "-C", "-b", self.bootstrap(), "-t", PREFIX + "blocks", "-o", "beginning",
                "-e", "-q",
                "-f", "%s\n"]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            return None
        retracted = set()
        for line in out.stdout.splitlines():
            if '"removed":true' in line:
                value = json.loads(line)
                retracted.add((value["height"], value["block_id"]))
        return sorted(retracted)

    # A process whose Kafka client hit a fatal error (e.g. a static consumer fenced by the group
    # coordinator) cannot go on: it must stop, so that a supervisor restarts it. One that kept
    # running for FATAL_GRACE_S afterwards would consume nothing while looking alive.
    FATAL_GRACE_S = 30

    def fatal_client_errors(self):
        found = []
        for stage in STAGES:
            path = os.path.join(self.work, "logs", stage + ".log")
            if not os.path.exists(path):
                continue
            with open(path, errors="replace") as lines:
                for line in lines:
                    if '"facility":"FATAL"' not in line:
                        continue
                    try:
                        entry = json.loads(line)
                        at = calendar.timegm(time.strptime(entry["timestamp"][:19],
                                                           "%Y-%m-%dT%H:%M:%S")) \
                            + int(entry["timestamp"][20:23]) / 1000
                    except (ValueError, KeyError):
                        continue
                    life = next((l for l in self.lives if l["stage"] == stage and l["from"] <= at
                                 and (l["to"] is None or at <= l["to"])), None)
                    lived = ((life["to"] or time.time()) - at) if life else None
                    by_itself = bool(life and life["end"] and life["end"].startswith("exited"))
                    found.append({
                        "stage": stage, "pid": life and life["pid"], "at": entry["timestamp"],
                        "detail": entry.get("detail", "")[:200],
                        "process_end": life and life["end"],
                        "seconds_alive_after": None if lived is None else round(lived, 1),
                        "kept_running": bool(life) and not by_itself
                        and lived > self.FATAL_GRACE_S,
                    })
        return found

    def cleanup(self):
        for stage in STAGES:
            process = self.procs.get(stage)
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        if self.tronsim is not None and self.tronsim.poll() is None:
            self.tronsim.terminate()
            try:
                self.tronsim.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.tronsim.kill()
        if self.broker_port is not None:
            try:
                self.broker("stop")
            except subprocess.TimeoutExpired:
                pid = self.broker_pid()
                if pid:
                    os.kill(pid, signal.SIGKILL)

    def execute(self):
        report = {"profile": self.args.profile, "seed": self.args.seed, "blocks": self.args.blocks,
                  "first_height": FIRST_HEIGHT, "utc_offset": UTC_OFFSET, "work_dir": self.work}
        self.setup()
        self.chaos()
        settled = self.settle()
        health = {}
        for stage in STAGES:
            status, text = http("GET", "http://127.0.0.1:%d/health" % self.ports[stage])
            try:
                health[stage] = json.loads(text)["data"]["status"] if status else text
            except (ValueError, KeyError, TypeError):
                health[stage] = "%d %s" % (status, text[:100])
        status, stats_text = http("GET", self.tronsim_url + "/admin/stats")
        node_stats = json.loads(stats_text) if status == 200 else None
        status, faults_text = http("GET", self.tronsim_url + "/admin/faults")
        faults = json.loads(faults_text) if status == 200 else None
        http("DELETE", self.tronsim_url + "/admin/faults")
        exits = self.stop_stages()
        self.say("stages stopped: %s" % exits)
        fatal = self.fatal_client_errors()
        for item in fatal:
            self.say("%s: fatal Kafka client error at %s (%s); the process %s" % (
                item["stage"], item["at"], item["detail"],
                "KEPT RUNNING (%s s, until %s)" % (item["seconds_alive_after"], item["process_end"])
                if item["kept_running"] else "ended: %s" % item["process_end"]))
        retractions = self.count_retractions()
        report.update({
            "final_head": self.final_head,
            "chaos_s": round(self.chaos_s, 1), "settle_s": round(self.settle_s, 1),
            "settled": settled, "kills": self.kills, "kills_total": sum(self.kills.values()),
            "starts": self.starts, "unexpected_exits": self.crashes,
            "broker_restarts": self.broker_restarts, "forks": self.forks,
            "retractions_on_blocks": len(retractions) if retractions is not None else None,
            "observed_counters": self.observed_totals(), "exit_on_sigterm": exits,
            "fatal_client_errors": fatal, "health_at_end": health,
            "node_requests": node_stats and node_stats.get("requests"),
            "node_faults": node_stats and {k: node_stats.get(k)
                                           for k in ("faults", "stalled", "reset", "truncated")},
            "fault_rules_fired": faults and [
                {k: r.get(k) for k in ("kind", "status", "path", "fired") if r.get(k) is not None}
                for r in faults.get("rules", [])],
        })
        self.say("checking %d blocks with check.py" % (self.final_head - FIRST_HEIGHT + 1))
        check_json = os.path.join(self.work, "check.json")
        argv = [sys.executable, os.path.join(HERE, "check.py"), "--node", self.tronsim_url,
                "--db", os.path.join(self.work, "persister", "pointtron.db"),
                "--start-height", str(FIRST_HEIGHT), "--end-height", str(self.final_head),
                "--utc-offset", UTC_OFFSET, "--parity-window", str(PARITY_WINDOW),
                "--json", check_json]
        checked = subprocess.run(argv, capture_output=True, text=True)
        sys.stdout.write(checked.stdout)
        sys.stderr.write(checked.stderr)
        report["check_exit"] = checked.returncode
        if os.path.exists(check_json):
            with open(check_json) as f:
                result = json.load(f)
            report["check"] = {t: {k: v for k, v in r.items() if k != "examples"}
                               for t, r in result["tables"].items()}
            report["check_problems"] = result["problems"]
        report["total_s"] = round(now() - self.t0, 1)
        report["passed"] = bool(settled and checked.returncode == 0
                                and not any(item["kept_running"] for item in fatal))
        return report


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", action="store_true", help="the long run (>= 100 kills)")
    parser.add_argument("--build-dir", default=os.path.join(HERE, "..", "..", "build"),
                        help="where bin/ holds the binaries (default: build)")
    parser.add_argument("--source-dir", default=os.path.normpath(os.path.join(HERE, "..", "..")))
    for name in STAGES + ["tronsim", "cli"]:
        parser.add_argument("--" + name, dest="path_" + name, help="path of the %s binary" % name)
    parser.add_argument("--blocks", type=int, help="chain length from the first height")
    parser.add_argument("--kills", type=int, help="stage SIGKILLs")
    parser.add_argument("--broker-restarts", type=int)
    parser.add_argument("--forks", type=int)
    parser.add_argument("--rate", type=float, help="head pace, blocks/s (default: from the kills)")
    parser.add_argument("--seed", type=int, help="schedule and fault seed (default: random)")
    parser.add_argument("--chain-seed", type=int, default=1, help="tronsim's chain seed")
    parser.add_argument("--data-partitions", type=int, default=6)
    parser.add_argument("--broker-heap-mb", type=int, default=512)
    parser.add_argument("--settle-s", type=int, default=300, help="bound of the final wait")
    parser.add_argument("--deadline-s", type=int, help="the whole run's own deadline")
    parser.add_argument("--work-dir", help="default: a new temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the work directory on success")
    parser.add_argument("--report", help="also write the JSON report here")
    parser.add_argument("--verbose", action="store_true", help="print every event")
    args = parser.parse_args(argv)
    args.profile = "long" if args.long else "short"
    for key, value in PROFILES[args.profile].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 2**31)
    bin_dir = os.path.join(os.path.abspath(args.build_dir), "bin")
    args.bin = {}
    for name in STAGES + ["tronsim", "cli"]:
        default = os.path.join(bin_dir, "pointtron" if name == "cli" else
                               "tronsim" if name == "tronsim" else "pointtron-" + name)
        args.bin[name] = os.path.abspath(getattr(args, "path_" + name) or default)
    args.tronsim, args.cli = args.bin["tronsim"], args.bin["cli"]
    if args.deadline_s is None:
        args.deadline_s = PROFILES[args.profile]["deadline_s"]
    return args


def main(argv):
    args = parse_args(argv)
    run = Run(args)

    def terminate(signum, frame):
        raise Abort("signal %d" % signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    report = None
    code = 1
    try:
        report = run.execute()
        code = 0 if report["passed"] else 1
    except Abort as error:
        run.say("ABORTED: %s" % error)
        report = {"passed": False, "aborted": str(error), "work_dir": run.work}
        code = 2 if "not built" in str(error) or "broker" in str(error) else 1
    finally:
        run.cleanup()
    text = json.dumps(report, indent=1, sort_keys=True, default=str)
    with open(os.path.join(run.work, "report.json"), "w") as f:
        f.write(text + "\n")
    if args.report:
        with open(args.report, "w") as f:
            f.write(text + "\n")
    print(text)
    print("chaos: %s (work directory %s%s)" % (
        "PASS" if code == 0 else "FAIL", run.work,
        ", removed" if code == 0 and not args.keep and not args.work_dir else ""))
    run.events.close()
    if code == 0 and not args.keep and not args.work_dir:
        shutil.rmtree(run.work, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
