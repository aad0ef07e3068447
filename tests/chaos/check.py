#!/usr/bin/env python3
"""Independent checker of a point-tron SQLite database against a TRON chain.

Reads the final chain from a node's HTTP API (tronsim, the java-tron `/wallet/getblockbynum` the
fetcher uses, hex addresses), recomputes from the raw blocks everything the pipeline stores —
every block row, every point and score, every daily, hourly, witness-day and parity figure, every
candle of every period — and compares it with the database table by table: rows missing,
duplicated (a key held twice), unexpected (a key that should not exist) and different.

Nothing here imports or calls point-tron code: the definitions are taken from
docs/statistics.md (the fold) and stages/decoder/README.md (the block summary) and implemented
again, on purpose, so that a bug shared by the pipeline and its checker is unlikely.

    check.py --node http://127.0.0.1:8090 --db pointtron.db --start-height S --end-height H \
             [--utc-offset +08:00] [--parity-window 1000] [--network mainnet] [--json report.json]
    check.py --selftest --tronsim build/bin/tronsim --schema-dir schemas/sqlite

Exit status: 0 when every table matches, 1 when something differs, 2 on a usage or I/O problem.
"""

import argparse
import datetime
import hashlib
import http.client
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse

SLOT_MS = 3000
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
CANDLE_PERIODS = [("1m", 60_000), ("5m", 300_000), ("15m", 900_000), ("1h", 3_600_000),
                  ("4h", 14_400_000), ("1d", 86_400_000)]
BLOCK_CANDLE = ("20b", 20)
USDT_CONTRACTS = {
    "mainnet": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
    "shasta": "TG3XXyExBkPp9nzdajDZsozEu4BkaSJozs",
    "nile": "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf",
}
TRANSFER = "a9059cbb"        # transfer(address,uint256)
TRANSFER_FROM = "23b872dd"   # transferFrom(address,address,uint256)

# ---------------------------------------------------------------------------------------------
# Addresses: base58check (double SHA-256 checksum), as TRON's T-addresses are written.

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58check_encode(payload):
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = B58[rest] + out
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + out


def b58check_decode(text):
    number = 0
    for char in text:
        number = number * 58 + B58.index(char)
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    data = b"\0" * zeros + body
    payload, checksum = data[:-4], data[-4:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != checksum:
        raise ValueError("bad base58check checksum: " + text)
    return payload


def hex_address_to_t(hex_address):
    return b58check_encode(bytes.fromhex(hex_address))


# ---------------------------------------------------------------------------------------------
# Time buckets (docs/statistics.md §1).

def parse_offset(text):
    """'+08:00' -> offset in ms, and the canonical text ('-00:00' is '+00:00')."""
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        raise ValueError("utc offset must be ±HH:MM: " + text)
    hours, minutes = int(text[1:3]), int(text[4:6])
    ms = (hours * 60 + minutes) * 60_000 * (-1 if text[0] == "-" else 1)
    canonical = "+00:00" if ms == 0 else text
    return ms, canonical


def bucket_index(t_ms, offset_ms, length_ms):
    return (t_ms + offset_ms) // length_ms  # Python's // is floor division, as the definition says


def bucket_start(index, offset_ms, length_ms):
    return index * length_ms - offset_ms


def day_name(day_index):
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=day_index)).isoformat()


def hour_name(hour_index):
    return "%sT%02d" % (day_name(hour_index // 24), hour_index % 24)


# ---------------------------------------------------------------------------------------------
# The block summary (stages/decoder/README.md, block.v1).

def last_digit(block_id):
    text = block_id[2:] if block_id[:2] in ("0x", "0X") else block_id
    for char in reversed(text):
        if char.isdigit():
            return int(char)
    raise ValueError("block id without a decimal digit: " + block_id)


def amount_word(data, selector):
    """The uint256 amount of a transfer/transferFrom call, or None when `data` is too short."""
    words_before = 1 if selector == TRANSFER else 2  # to | from, to
    begin = 8 + 64 * words_before
    if len(data) < begin + 64:
        return None
    return int(data[begin:begin + 64], 16)


def summarize(raw_text, usdt_t, usdt_hex):
    """A node block's JSON text -> the row `blocks` must hold for it (without wall-clock columns)."""
    block = json.loads(raw_text)
    header = block["block_header"]["raw_data"]
    block_id = block["blockID"].lower()
    if block_id.startswith("0x"):
        block_id = block_id[2:]
    parent_id = header["parentHash"].lower()
    if parent_id.startswith("0x"):
        parent_id = parent_id[2:]
    witness = header["witness_address"]
    if witness.startswith("T"):
        witness_t, witness_hex = witness, b58check_decode(witness).hex()
    else:
        witness_hex, witness_t = witness.lower(), hex_address_to_t(witness.lower())
    tx_by_type = {}
    tx_failed = 0
    trx_sun = 0
    trc20 = 0
    usdt = 0
    usdt_volume = 0
    transactions = block.get("transactions", [])
    for tx in transactions:
        ret = tx.get("ret") or []
        contract_ret = ret[0].get("contractRet") if ret else None
        if contract_ret is not None and contract_ret != "SUCCESS":
            tx_failed += 1
        contracts = tx.get("raw_data", {}).get("contract") or []
        if not contracts:
            continue
        contract = contracts[0]
        kind = contract.get("type")
        if kind is not None:
            tx_by_type[kind] = tx_by_type.get(kind, 0) + 1
        value = contract.get("parameter", {}).get("value", {})
        if kind == "TransferContract":
            trx_sun += int(value.get("amount", 0))
        elif kind == "TriggerSmartContract" and contract_ret in (None, "SUCCESS"):
            data = (value.get("data") or "").lower()
            selector = data[:8]
            if selector in (TRANSFER, TRANSFER_FROM):
                amount = amount_word(data, selector)
                if amount is not None:
                    trc20 += 1
                    address = value.get("contract_address") or ""
                    if address.lower() == usdt_hex or address == usdt_t:
                        usdt += 1
                        usdt_volume += amount
    digit = last_digit(block_id)
    return {
        "height": int(header["number"]),
        "block_id": block_id,
        "parent_id": parent_id,
        "timestamp_ms": int(header["timestamp"]),
        "witness": witness_t,
        "witness_hex": witness_hex,
        "version": int(header.get("version", 0)),
        "tx_count": len(transactions),
        "tx_by_type": tx_by_type,
        "tx_failed": tx_failed,
        "trx_transferred_sun": str(trx_sun),
        "trc20_transfers": trc20,
        "usdt_transfers": usdt,
        "usdt_volume": str(usdt_volume),
        "last_digit": digit,
        "is_odd": 1 if digit % 2 == 1 else 0,
        "size_bytes": len(raw_text.encode("utf-8")),
    }


# ---------------------------------------------------------------------------------------------
# The fold (docs/statistics.md §1–§6): the final value of every key, from the chain in height order.

def z_score(odd, n):
    return (odd - n / 2) / math.sqrt(n / 4)


def new_period(name_key, name, offset_text, start_ms, tip_height, score):
    return {name_key: name, "utc_offset": offset_text, "start_ms": start_ms, "blocks": 0, "odd": 0,
            "transactions": 0, "failed_transactions": 0, "trx": 0, "trc20_transfers": 0,
            "usdt_transfers": 0, "usdt": 0, "missed_slots": 0,
            # Until a block lands in it: the last block before it, and its score.
            "first_height": tip_height, "last_height": tip_height, "score_close": score}


def fold(blocks, start_height, offset_text, parity_window):
    """blocks: summaries of heights start_height… in order. Returns {table: {key: row}}."""
    offset_ms, offset_text = parse_offset(offset_text)
    points, days, hours, candles, witnesses = {}, {}, {}, {}, {}
    successor = {}         # witness hex -> next witness hex in the learnt rotation
    witness_t = {}         # witness hex -> T-address
    score = 0
    previous = None        # (bucket time, witness hex, height)
    parity_bits = []

    def day_of(t, tip_height):
        index = bucket_index(t, offset_ms, DAY_MS)
        name = day_name(index)
        if name not in days:
            days[name] = new_period("date", name, offset_text, bucket_start(index, offset_ms, DAY_MS),
                                    tip_height, score)
        return days[name]

    def hour_of(t, tip_height):
        index = bucket_index(t, offset_ms, HOUR_MS)
        name = hour_name(index)
        if name not in hours:
            hours[name] = new_period("hour", name, offset_text,
                                     bucket_start(index, offset_ms, HOUR_MS), tip_height, score)
        return hours[name]

    def witness_day(date, hex_address):
        key = (date, witness_t[hex_address])
        if key not in witnesses:
            witnesses[key] = {"date": date, "witness": witness_t[hex_address],
                              "witness_hex": hex_address, "blocks": 0, "missed_slots": 0}
        return witnesses[key]

    expected_height = start_height
    for block in blocks:
        height = block["height"]
        if height != expected_height:
            raise ValueError("chain has height %d where %d was expected" % (height, expected_height))
        expected_height += 1
        witness_t[block["witness_hex"]] = block["witness"]
        t = block["timestamp_ms"] if previous is None else max(block["timestamp_ms"], previous[0])

        # Missed slots between the previous block and this one (§5), each in its own day and hour.
        if previous is not None:
            p, previous_witness, previous_height = previous
            gap = t - p
            if 0 < gap <= SLOT_MS:
                successor[previous_witness] = block["witness_hex"]
            missed = (gap - 1) // SLOT_MS if gap > SLOT_MS else 0
            scheduled = previous_witness
            attributable = True
            for k in range(1, missed + 1):
                slot = p + SLOT_MS * k
                day_of(slot, previous_height)["missed_slots"] += 1
                hour_of(slot, previous_height)["missed_slots"] += 1
                if attributable and scheduled in successor:
                    scheduled = successor[scheduled]
                    witness_day(day_name(bucket_index(slot, offset_ms, DAY_MS)),
                                scheduled)["missed_slots"] += 1
                else:
                    attributable = False

        score_before = score
        point = 1 if block["is_odd"] == 0 else -1
        score += point
        points[height] = {"height": height, "block_id": block["block_id"],
                          "timestamp_ms": block["timestamp_ms"], "last_digit": block["last_digit"],
                          "is_odd": block["is_odd"], "point": point, "score": score}

        for period in (day_of(t, height), hour_of(t, height)):
            if period["blocks"] == 0:
                period["first_height"] = height
            period["blocks"] += 1
            period["odd"] += block["is_odd"]
            period["transactions"] += block["tx_count"]
            period["failed_transactions"] += block["tx_failed"]
            period["trx"] += int(block["trx_transferred_sun"])
            period["trc20_transfers"] += block["trc20_transfers"]
            period["usdt_transfers"] += block["usdt_transfers"]
            period["usdt"] += int(block["usdt_volume"])
            period["last_height"] = height
            period["score_close"] = score
        witness_day(day_name(bucket_index(t, offset_ms, DAY_MS)), block["witness_hex"])["blocks"] += 1

        starts = [(name, bucket_start(bucket_index(t, offset_ms, length), offset_ms, length), length)
                  for name, length in CANDLE_PERIODS]
        window = BLOCK_CANDLE[1]
        starts.append((BLOCK_CANDLE[0], height - height % window, window))
        for name, start, length in starts:
            key = (name, start)
            candle = candles.get(key)
            if candle is None:
                candle = candles[key] = {"period": name, "start": start, "end": start + length,
                                         "open": score_before, "high": score_before,
                                         "low": score_before, "close": score_before, "volume": 0,
                                         "first_height": height, "last_height": height}
            candle["volume"] += 1
            candle["close"] = score
            candle["high"] = max(candle["high"], score)
            candle["low"] = min(candle["low"], score)
            candle["last_height"] = height

        parity_bits.append(block["is_odd"])
        previous = (t, block["witness_hex"], height)

    def finish(period):
        row = dict(period)
        row["even"] = row["blocks"] - row["odd"]
        row["odd_rate"] = row["odd"] / row["blocks"] if row["blocks"] else 0.0
        row["trx_transferred_sun"] = str(row.pop("trx"))
        row["usdt_volume"] = str(row.pop("usdt"))
        return row

    parity = {}
    if parity_bits:
        window_bits = parity_bits[-parity_window:]
        n, odd = len(window_bits), sum(window_bits)
        parity[parity_window] = {"window": parity_window, "height": expected_height - 1,
                                 "blocks": n, "odd": odd, "z_score": z_score(odd, n)}
    return {
        "points": points,
        "daily_stats": {name: finish(row) for name, row in days.items()},
        "hourly_stats": {name: finish(row) for name, row in hours.items()},
        "candles": candles,
        "witness_stats": witnesses,
        "parity": parity,
    }


# ---------------------------------------------------------------------------------------------
# Tables: key columns and compared columns (schemas/sqlite/0001_initial.sql).

PERIOD_COLUMNS = ["utc_offset", "start_ms", "blocks", "odd", "even", "odd_rate", "transactions",
                  "failed_transactions", "trx_transferred_sun", "trc20_transfers", "usdt_transfers",
                  "usdt_volume", "missed_slots", "first_height", "last_height", "score_close"]
TABLES = {
    "blocks": (["height"], ["block_id", "parent_id", "timestamp_ms", "witness", "witness_hex",
                            "version", "tx_count", "tx_by_type", "tx_failed", "trx_transferred_sun",
                            "trc20_transfers", "usdt_transfers", "usdt_volume", "last_digit",
                            "is_odd", "size_bytes"]),
    "points": (["height"], ["block_id", "timestamp_ms", "last_digit", "is_odd", "point", "score"]),
    "daily_stats": (["date"], PERIOD_COLUMNS),
    "hourly_stats": (["hour"], PERIOD_COLUMNS),
    "candles": (["period", "start"], ["end", "open", "high", "low", "close", "volume",
                                      "first_height", "last_height"]),
    "witness_stats": (["date", "witness"], ["witness_hex", "blocks", "missed_slots"]),
    "parity": (["window"], ["height", "blocks", "odd", "z_score"]),
}


def expected_tables(blocks, start_height, offset_text, parity_window):
    tables = fold(blocks, start_height, offset_text, parity_window)
    tables["blocks"] = {block["height"]: block for block in blocks}
    return tables


def normalize(table, column, value):
    if table == "blocks" and column == "tx_by_type" and isinstance(value, str):
        return json.loads(value)
    if column in ("trx_transferred_sun", "usdt_volume") and value is not None:
        return str(value)
    return value


def key_of(row, key_columns):
    return tuple(row[column] for column in key_columns)


def compare(db_path, expected, examples=5):
    """{table: counts and examples}; every table of TABLES."""
    connection = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(db_path), uri=True)
    connection.row_factory = sqlite3.Row
    report = {}
    try:
        for table, (key_columns, columns) in TABLES.items():
            want = {}
            for key, row in expected[table].items():
                want[key_of(row, key_columns)] = row
            found = {}
            duplicated = []
            select = "SELECT %s FROM %s" % (", ".join('"%s"' % c for c in key_columns + columns), table)
            for db_row in connection.execute(select):
                row = {c: normalize(table, c, db_row[c]) for c in key_columns + columns}
                key = key_of(row, key_columns)
                if key in found:
                    duplicated.append(key)
                    continue
                found[key] = row
            missing = sorted(k for k in want if k not in found)
            unexpected = sorted(k for k in found if k not in want)
            different = []
            for key in sorted(k for k in want if k in found):
                diffs = {c: {"expected": want[key][c], "found": found[key][c]}
                         for c in columns if normalize(table, c, want[key][c]) != found[key][c]}
                if diffs:
                    different.append((key, diffs))
            report[table] = {
                "expected": len(want), "found": len(found) + len(duplicated),
                "missing": len(missing), "duplicated": len(duplicated),
                "unexpected": len(unexpected), "different": len(different),
                "examples": {
                    "missing": [list(k) for k in missing[:examples]],
                    "duplicated": [list(k) for k in duplicated[:examples]],
                    "unexpected": [{"key": list(k), "row": found[k]} for k in unexpected[:examples]],
                    "different": [{"key": list(k), "columns": d} for k, d in different[:examples]],
                },
            }
    finally:
        connection.close()
    return report


def failures(report):
    return sum(t["missing"] + t["duplicated"] + t["unexpected"] + t["different"]
               for t in report.values())


def print_report(report, out=sys.stdout):
    out.write("%-14s %9s %9s %8s %10s %10s %9s\n" % ("table", "expected", "found", "missing",
                                                    "duplicated", "unexpected", "different"))
    for table, t in report.items():
        out.write("%-14s %9d %9d %8d %10d %10d %9d\n" % (table, t["expected"], t["found"],
                                                        t["missing"], t["duplicated"],
                                                        t["unexpected"], t["different"]))
    for table, t in report.items():
        for kind, items in t["examples"].items():
            for item in items:
                out.write("  %s %s: %s\n" % (table, kind, json.dumps(item, sort_keys=True)))


# ---------------------------------------------------------------------------------------------
# The chain, read back from the node.

class Node:
    def __init__(self, url, timeout=30):
        parsed = urllib.parse.urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.timeout = timeout
        self.connection = None

    def request(self, method, path, body=None):
        """(status, text); retried a few times on transport errors, reconnecting."""
        last_error = None
        for attempt in range(5):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection(self.host, self.port,
                                                                 timeout=self.timeout)
                headers = {"Content-Type": "application/json"} if body is not None else {}
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                text = response.read().decode("utf-8")
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                return response.status, text
            except (OSError, http.client.HTTPException) as error:
                last_error = error
                self.close()
                time.sleep(0.2 * (attempt + 1))  # transport retry pacing, not synchronisation
        raise IOError("%s %s: %s" % (method, path, last_error))

    def json(self, method, path, body=None):
        status, text = self.request(method, path, body)
        if status != 200:
            raise IOError("%s %s: HTTP %d %s" % (method, path, status, text[:200]))
        return json.loads(text)

    def block_text(self, height):
        for attempt in range(5):
            status, text = self.request("POST", "/wallet/getblockbynum", json.dumps({"num": height}))
            text = text.strip()
            if status == 200 and text.startswith("{") and '"blockID"' in text:
                return text
            time.sleep(0.2 * (attempt + 1))
        raise IOError("block %d: HTTP %d %s" % (height, status, text[:200]))

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def read_chain(node_url, start_height, end_height, network, progress=None):
    """Summaries of heights [start_height, end_height] from the node, checked to link up."""
    usdt_t = USDT_CONTRACTS[network]
    usdt_hex = b58check_decode(usdt_t).hex()
    node = Node(node_url)
    blocks = []
    try:
        for height in range(start_height, end_height + 1):
            block = summarize(node.block_text(height), usdt_t, usdt_hex)
            if block["height"] != height:
                raise IOError("asked for block %d, got %d" % (height, block["height"]))
            if blocks and block["parent_id"] != blocks[-1]["block_id"]:
                raise IOError("block %d does not link to block %d" % (height, height - 1))
            blocks.append(block)
            if progress and (height - start_height) % 2000 == 1999:
                progress("read %d of %d blocks" % (height - start_height + 1,
                                                  end_height - start_height + 1))
    finally:
        node.close()
    return blocks


def check(args):
    started = time.monotonic()
    blocks = read_chain(args.node, args.start_height, args.end_height, args.network,
                        progress=lambda m: print("check: " + m, file=sys.stderr))
    expected = expected_tables(blocks, args.start_height, args.utc_offset, args.parity_window)
    report = compare(args.db, expected)
    bad = failures(report)
    print_report(report)
    print("check: %s: %d blocks %d..%d, %d problems (%.1f s)" % (
        "PASS" if bad == 0 else "FAIL", len(blocks), args.start_height, args.end_height, bad,
        time.monotonic() - started))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"passed": bad == 0, "problems": bad, "blocks": len(blocks),
                       "start_height": args.start_height, "end_height": args.end_height,
                       "tables": report}, out, indent=1, sort_keys=True, default=str)
    return 0 if bad == 0 else 1


# ---------------------------------------------------------------------------------------------
# Self-test: the definitions against the worked examples of docs/statistics.md, then a database
# written from the expected rows must pass and every kind of corruption of it must be caught.

def selftest_definitions():
    problems = []

    def expect(what, got, want):
        if got != want:
            problems.append("%s: got %r, want %r" % (what, got, want))

    expect("digit of …c2a39", last_digit("00000000000c2a39"), 9)
    expect("digit of …d0eaf", last_digit("0x00000000000d0eaf"), 0)
    expect("z of 532/1000", z_score(532, 1000), 2.0238577025077626)
    offset, text = parse_offset("+08:00")
    index = bucket_index(1795968000000, offset, DAY_MS)
    expect("day of 1795968000000 at +08:00", (index, day_name(index)), (20787, "2026-11-30"))
    expect("start of that day", bucket_start(index, offset, DAY_MS), 1795968000000)
    expect("-00:00", parse_offset("-00:00")[1], "+00:00")
    expect("TR7NH… hex", b58check_decode(USDT_CONTRACTS["mainnet"]).hex(),
           "41a614f803b6fd780986a42c78ec9c7f77e6ded13c")
    expect("hex -> T", hex_address_to_t("41a614f803b6fd780986a42c78ec9c7f77e6ded13c"),
           USDT_CONTRACTS["mainnet"])

    def synthetic(height, t, digit, witness="41" + "11" * 20):
        return {"height": height, "block_id": "%016x%047x%d" % (height, 0xabc, digit),
                "timestamp_ms": t, "witness": hex_address_to_t(witness), "witness_hex": witness,
                "tx_count": 0, "tx_failed": 0, "trx_transferred_sun": "0", "trc20_transfers": 0,
                "usdt_transfers": 0, "usdt_volume": "0", "last_digit": digit,
                "is_odd": digit % 2}

    # §4's example: start 100, +00:00, minute M = 2026-11-30T00:00Z.
    m = 1795996800000
    blocks = [synthetic(100, m, 2), synthetic(101, m + 3000, 4), synthetic(102, m + 57000, 5),
              synthetic(103, m + 120000, 7), synthetic(104, m + 123000, 8)]
    tables = fold(blocks, 100, "+00:00", 1000)
    one = {k[1]: v for k, v in tables["candles"].items() if k[0] == "1m"}
    expect("candle 1m:M", {c: one[m][c] for c in ("open", "high", "low", "close", "volume")},
           {"open": 0, "high": 2, "low": 0, "close": 1, "volume": 3})
    expect("no candle 1m:M+60000", m + 60000 in one, False)
    expect("candle 1m:M+120000",
           {c: one[m + 120000][c] for c in ("open", "high", "low", "close", "volume")},
           {"open": 1, "high": 1, "low": 0, "close": 1, "volume": 2})
    expect("20b window", sorted(k[1] for k in tables["candles"] if k[0] == "20b"), [100])

    # §5's example: blocks at 23:59:48 and 00:00:03 leave 3 missed slots on the first day and 1
    # on the next; the rotation learnt from a one-slot step attributes the first of them.
    a, b = "41" + "aa" * 20, "41" + "bb" * 20
    midnight = 1795996800000  # 2026-11-30T00:00Z
    blocks = [synthetic(1, midnight - 15000, 2, a), synthetic(2, midnight - 12000, 2, b),
              synthetic(3, midnight + 3000, 2, a)]
    tables = fold(blocks, 1, "+00:00", 1000)
    expect("missed slots on 2026-11-29", tables["daily_stats"]["2026-11-29"]["missed_slots"], 3)
    expect("missed slots on 2026-11-30", tables["daily_stats"]["2026-11-30"]["missed_slots"], 1)
    # b's successor is unknown (only a -> b was observed): the whole gap after b is unattributed.
    expect("unattributed gap", sum(w["missed_slots"] for w in tables["witness_stats"].values()), 0)
    blocks = [synthetic(1, midnight - 18000, 2, a), synthetic(2, midnight - 15000, 2, b),
              synthetic(3, midnight - 12000, 2, a), synthetic(4, midnight + 3000, 2, b)]
    tables = fold(blocks, 1, "+00:00", 1000)
    attributed = {(k[0], v["witness_hex"]): v["missed_slots"]
                  for k, v in tables["witness_stats"].items() if v["missed_slots"]}
    # After a (at -12 s): slot -9 s -> b, -6 s -> a, -3 s -> b, 0 s (next day) -> a.
    expect("attributed gap", attributed, {("2026-11-29", b): 2, ("2026-11-29", a): 1,
                                          ("2026-11-30", a): 1})
    return problems


def start_tronsim(tronsim, args, log_path):
    log = open(log_path, "w")
    process = subprocess.Popen([tronsim, "serve", "--port", "0"] + args, stdout=log,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(log_path) as lines:
            for line in lines:
                if "Listening." in line:
                    return process, json.loads(line)["port"]
        if process.poll() is not None:
            raise RuntimeError("tronsim exited with %s; see %s" % (process.returncode, log_path))
        time.sleep(0.05)  # polling the log for a condition, bounded by the deadline
    process.kill()
    raise RuntimeError("tronsim did not listen within 30 s")


def write_database(path, schema_dir, tables):
    connection = sqlite3.connect(path)
    for name in sorted(os.listdir(schema_dir)):
        if name.endswith(".sql"):
            with open(os.path.join(schema_dir, name)) as sql:
                connection.executescript(sql.read())
    for table, (key_columns, columns) in TABLES.items():
        names = key_columns + columns
        extra = ["fetched_at_ms", "decoded_at_ms", "source"] if table == "blocks" else []
        statement = "INSERT INTO %s (%s) VALUES (%s)" % (
            table, ", ".join('"%s"' % c for c in names + extra), ", ".join("?" * len(names + extra)))
        for row in tables[table].values():
            values = [json.dumps(row[c], separators=(",", ":"), sort_keys=True)
                      if c == "tx_by_type" else row[c] for c in names]
            if extra:
                values += [1, 2, "selftest"]
            connection.execute(statement, values)
    connection.commit()
    connection.close()


def without_primary_key(connection, table):
    """Rebuilds `table` without its key constraint, so that a duplicate row can be stored."""
    connection.execute("CREATE TABLE selftest_copy AS SELECT * FROM %s" % table)
    connection.execute("DROP TABLE %s" % table)
    connection.execute("ALTER TABLE selftest_copy RENAME TO %s" % table)


# Each corruption: what it does to a copy, and the (table, kind) the check must report once.
CORRUPTIONS = [
    ("change a block's tx_failed",
     "UPDATE blocks SET tx_failed = tx_failed + 1 WHERE height = {mid}", ("blocks", "different")),
    ("change a block's id to an orphan's",
     "UPDATE blocks SET block_id = '{orphan}' WHERE height = {top}", ("blocks", "different")),
    ("delete a block", "DELETE FROM blocks WHERE height = {mid}", ("blocks", "missing")),
    ("add a block above the head",
     "INSERT INTO blocks SELECT height + 1, block_id, parent_id, timestamp_ms, witness, witness_hex, "
     "version, tx_count, tx_by_type, tx_failed, trx_transferred_sun, trc20_transfers, "
     "usdt_transfers, usdt_volume, last_digit, is_odd, size_bytes, fetched_at_ms, decoded_at_ms, "
     "source FROM blocks WHERE height = {top}", ("blocks", "unexpected")),
    ("duplicate a block", "!nokey blocks;INSERT INTO blocks SELECT * FROM blocks WHERE height = {mid}",
     ("blocks", "duplicated")),
    ("change a score", "UPDATE points SET score = score + 2 WHERE height = {mid}",
     ("points", "different")),
    ("flip a parity", "UPDATE points SET is_odd = 1 - is_odd WHERE height = {first}",
     ("points", "different")),
    ("delete a point", "DELETE FROM points WHERE height = {top}", ("points", "missing")),
    ("duplicate a point", "!nokey points;INSERT INTO points SELECT * FROM points WHERE height = {mid}",
     ("points", "duplicated")),
    ("change a day's missed slots",
     "UPDATE daily_stats SET missed_slots = missed_slots + 1 WHERE date = (SELECT min(date) FROM daily_stats)",
     ("daily_stats", "different")),
    ("change a day's odd rate",
     "UPDATE daily_stats SET odd_rate = odd_rate + 1e-12 WHERE date = (SELECT max(date) FROM daily_stats)",
     ("daily_stats", "different")),
    ("delete a day", "DELETE FROM daily_stats WHERE date = (SELECT max(date) FROM daily_stats)",
     ("daily_stats", "missing")),
    ("change an hour's usdt volume",
     "UPDATE hourly_stats SET usdt_volume = usdt_volume || '0' WHERE hour = (SELECT min(hour) FROM hourly_stats)",
     ("hourly_stats", "different")),
    ("add an hour",
     "INSERT INTO hourly_stats SELECT '2001-01-01T00', utc_offset, start_ms, blocks, odd, even, "
     "odd_rate, transactions, failed_transactions, trx_transferred_sun, trc20_transfers, "
     "usdt_transfers, usdt_volume, missed_slots, first_height, last_height, score_close "
     "FROM hourly_stats LIMIT 1", ("hourly_stats", "unexpected")),
    ("duplicate an hour",
     "!nokey hourly_stats;INSERT INTO hourly_stats SELECT * FROM hourly_stats LIMIT 1",
     ("hourly_stats", "duplicated")),
    ("change a candle's high",
     "UPDATE candles SET high = high + 1 WHERE period = '1m' AND start = (SELECT max(start) FROM candles WHERE period = '1m')",
     ("candles", "different")),
    ("change a 20b candle's open",
     "UPDATE candles SET open = open - 1 WHERE period = '20b' AND start = (SELECT min(start) FROM candles WHERE period = '20b')",
     ("candles", "different")),
    ("delete a 4h candle",
     "DELETE FROM candles WHERE period = '4h' AND start = (SELECT min(start) FROM candles WHERE period = '4h')",
     ("candles", "missing")),
    ("add an empty candle",
     "INSERT INTO candles SELECT period, start - 60000, start, open, open, open, open, 0, "
     "first_height, first_height FROM candles WHERE period = '1m' "
     "AND start = (SELECT min(start) FROM candles WHERE period = '1m')",
     ("candles", "unexpected")),
    ("change a witness's missed slots",
     "UPDATE witness_stats SET missed_slots = missed_slots + 1 WHERE (date, witness) IN "
     "(SELECT date, witness FROM witness_stats ORDER BY date, witness LIMIT 1)",
     ("witness_stats", "different")),
    ("delete a witness day",
     "DELETE FROM witness_stats WHERE (date, witness) IN "
     "(SELECT date, witness FROM witness_stats ORDER BY date DESC, witness LIMIT 1)",
     ("witness_stats", "missing")),
    ("change the parity z-score", "UPDATE parity SET z_score = z_score + 1e-9",
     ("parity", "different")),
    ("change the parity height", "UPDATE parity SET height = height - 1", ("parity", "different")),
]


def selftest(args):
    problems = ["definitions: " + p for p in selftest_definitions()]
    work = tempfile.mkdtemp(prefix="pointtron-check-selftest-")
    first, count = 1000, 1500
    # Small blocks, many missed slots; the first slot 65 min before a +08:00 midnight, so the
    # chain (≈ 79 min) spans two local days and three hours.
    midnight_utc = 1795968000000  # 2026-11-30T00:00+08:00
    tronsim_args = ["--profile", "small", "--seed", "11", "--first-height", str(first),
                    "--head", str(first + count - 1 - 6),
                    "--first-timestamp-ms", str(midnight_utc - 65 * 60_000),
                    "--missed-slot-rate", "0.05"]
    process, port = start_tronsim(args.tronsim, tronsim_args, os.path.join(work, "tronsim.log"))
    passed = False
    try:
        url = "http://127.0.0.1:%d" % port
        node = Node(url)
        orphan = node.json("POST", "/wallet/getblockbynum", json.dumps({"num": first + count - 7}))
        # A fork of the top 4 blocks, then 6 more: the final chain is not branch 0 at its top.
        node.json("POST", "/admin/fork", json.dumps({"depth": 4, "advance": 6}))
        head = node.json("GET", "/admin/head")["head"]
        node.close()
        if head != first + count - 1:
            problems.append("tronsim head %d, expected %d" % (head, first + count - 1))
        blocks = read_chain(url, first, head, "mainnet")
        if blocks[-7]["block_id"] == orphan["blockID"]:
            problems.append("the fork did not replace block %d" % (first + count - 7))
        expected = expected_tables(blocks, first, "+08:00", 100)
        days = sorted(expected["daily_stats"])
        if len(days) < 2:
            problems.append("the chain should span two days: %s" % days)
        if not any(w["missed_slots"] for w in expected["witness_stats"].values()):
            problems.append("no missed slot was attributed to a witness")
        database = os.path.join(work, "good.db")
        write_database(database, args.schema_dir, expected)
        report = compare(database, expected)
        if failures(report):
            problems.append("the uncorrupted database fails: %s" % json.dumps(report))
        print("selftest: uncorrupted database, %d blocks, %d days, %d hours, %d candles, "
              "%d witness days: %d problems" % (
                  len(blocks), len(expected["daily_stats"]), len(expected["hourly_stats"]),
                  len(expected["candles"]), len(expected["witness_stats"]), failures(report)))
        values = {"first": first, "mid": first + count // 2, "top": head,
                  "orphan": orphan["blockID"]}
        for what, statement, (table, kind) in CORRUPTIONS:
            copy = os.path.join(work, "corrupt.db")
            shutil.copyfile(database, copy)
            connection = sqlite3.connect(copy)
            for part in statement.format(**values).split(";"):
                if part.startswith("!nokey "):
                    without_primary_key(connection, part[len("!nokey "):])
                else:
                    connection.execute(part)
            changed = connection.total_changes
            connection.commit()
            connection.close()
            report = compare(copy, expected)
            counts = {(t, k): report[t][k] for t in report
                      for k in ("missing", "duplicated", "unexpected", "different") if report[t][k]}
            verdict = "caught" if counts == {(table, kind): 1} else "NOT CAUGHT AS EXPECTED"
            print("selftest: %-36s -> %s %s" % (what, verdict,
                                                 {"%s.%s" % k: v for k, v in counts.items()}))
            if changed == 0:
                problems.append("%s: the corruption changed nothing" % what)
            if counts != {(table, kind): 1}:
                problems.append("%s: expected one %s row in %s, got %s" % (what, kind, table, counts))
            os.remove(copy)
        passed = not problems
    finally:
        process.terminate()
        process.wait(timeout=30)
        if passed:
            shutil.rmtree(work, ignore_errors=True)
    for problem in problems:
        print("selftest: FAIL: " + problem)
    print("selftest: %s (%d corruptions)" % ("PASS" if passed else "FAIL", len(CORRUPTIONS)))
    return 0 if passed else 1


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--node", help="base URL of the node serving the final chain")
    parser.add_argument("--db", help="the persister's SQLite database")
    parser.add_argument("--start-height", type=int, help="aggregator.start_height")
    parser.add_argument("--end-height", type=int, help="the final head")
    parser.add_argument("--utc-offset", default="+00:00", help="aggregator.utc_offset")
    parser.add_argument("--parity-window", type=int, default=1000,
                        help="aggregator.parity_window_blocks")
    parser.add_argument("--network", default="mainnet", choices=sorted(USDT_CONTRACTS),
                        help="decoder.network")
    parser.add_argument("--json", help="also write the report here")
    parser.add_argument("--selftest", action="store_true",
                        help="check the checker: worked examples and corrupted databases")
    parser.add_argument("--tronsim", help="tronsim binary (self-test)")
    parser.add_argument("--schema-dir", help="schemas/sqlite (self-test)")
    args = parser.parse_args(argv)
    if args.selftest:
        if not args.tronsim or not args.schema_dir:
            parser.error("--selftest needs --tronsim and --schema-dir")
        return selftest(args)
    for name in ("node", "db", "start_height", "end_height"):
        if getattr(args, name) is None:
            parser.error("--%s is required" % name.replace("_", "-"))
    if not os.path.exists(args.db):
        print("check: no database at %s" % args.db, file=sys.stderr)
        return 2
    try:
        return check(args)
    except (IOError, ValueError, sqlite3.Error) as error:
        print("check: %s" % error, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
