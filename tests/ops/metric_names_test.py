#!/usr/bin/env python3
"""Checks that metric names agree everywhere they are written:

- the names the code registers (string literals "point_tron_…" in pipeline/ and stages/ sources,
  comments ignored; the process_* names the process collector exports; http_requests_total)
  are exactly the names documented in the tables of docs/specs/instrumentation.md §1;
- every metric a PromQL expression reads — Grafana dashboards (ops/grafana/dashboards/*.json:
  panel targets, template variable queries, annotations), Prometheus rules
  (ops/prometheus/rules/*.yml) and the alerter's shipped rules
  (stages/alerter/rules/pointtron.rules.yaml) — is registered (histograms through their
  _bucket/_sum/_count series), a recording rule's name, or one of Prometheus's own series;
- the dashboards are well-formed Grafana JSON (uid, title, unique panel ids, Prometheus
  datasource, defined template variables) and the provisioning files point at them; with
  --promtool, every dashboard expression also parses as PromQL (`promtool check rules` on a
  scratch rule file, Grafana variables replaced).

The PromQL tokenizer has its own cases (PromqlNamesTest), run first.

    metric_names_test.py --source PROJECT_SOURCE_DIR [--promtool PATH]
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import yaml

ARGS = None

# Series Prometheus makes itself, which no point-tron process registers.
PROMETHEUS_SERIES = {"up", "ALERTS", "ALERTS_FOR_STATE", "time"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
METRIC_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
GRAFANA_BUILTIN_VARIABLES = {
    "__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms",
    "__from", "__to", "__dashboard", "__org", "__user", "__timeFilter", "__auto",
}


def src(*parts):
    return os.path.join(ARGS.source, *parts)


def rel(path):
    return os.path.relpath(path, ARGS.source)


# --------------------------------------------------------------------------------------------
# C++ sources: string literals outside comments.
# --------------------------------------------------------------------------------------------

IDENT_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def cpp_string_literals(text):
    """The contents of the string literals of a C++ source, skipping comments, character
    literals and digit separators (1'000); raw strings R"d(…)d" are returned verbatim."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == '"':
            prefix_start = i
            while prefix_start > 0 and text[prefix_start - 1] in IDENT_CHARS:
                prefix_start -= 1
            prefix = text[prefix_start:i]
            if prefix.endswith("R") and prefix in ("R", "u8R", "uR", "UR", "LR"):
                open_paren = text.find("(", i + 1)
                delimiter = text[i + 1:open_paren]
                end = text.find(")" + delimiter + '"', open_paren + 1)
                if open_paren < 0 or end < 0:
                    raise ValueError("unterminated raw string")
                out.append(text[open_paren + 1:end])
                i = end + len(delimiter) + 2
                continue
            j = i + 1
            chars = []
            while j < n and text[j] != '"':
                if text[j] == "\\":
                    chars.append(text[j:j + 2])
                    j += 2
                    continue
                if text[j] == "\n":
                    raise ValueError("newline in a string literal")
                chars.append(text[j])
                j += 1
            out.append("".join(chars))
            i = j + 1
        elif c == "'":
            word_start = i
            while word_start > 0 and text[word_start - 1] in IDENT_CHARS:
                word_start -= 1
            word = text[word_start:i]
            if word and word not in ("L", "u", "U", "u8"):
                i += 1  # a digit separator
                continue
            j = i + 1
            while j < n and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            i = j + 1
        else:
            i += 1
    return out


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def cpp_sources():
    paths = []
    for top in ("pipeline", "stages"):
        for root, _, files in os.walk(src(top)):
            paths += [os.path.join(root, f) for f in files if f.endswith((".cc", ".h"))]
    return sorted(paths)


def registered_names():
    """{name: [files]} of every metric name the code registers."""
    names = {}
    literal = re.compile(r"point_tron_[a-z0-9_]+|http_requests_total")
    for path in cpp_sources():
        for value in cpp_string_literals(read(path)):
            if literal.fullmatch(value):
                names.setdefault(value, []).append(rel(path))
    # The process collector names its families through pipeline::metrics::names constants.
    header = read(src("pipeline", "include", "pipeline", "metrics", "names.h"))
    constants = dict(re.findall(r"\b(k\w+)\s*=\s*\"([^\"]*)\"", header))
    process_files = sorted(glob.glob(src("pipeline", "src", "metrics", "process_metrics*")) +
                           glob.glob(src("pipeline", "include", "pipeline", "metrics", "process_metrics*")))
    found = 0
    for path in process_files:
        text = read(path)
        references = set(re.findall(r"names::(k\w+)", text))
        references |= {v for v in cpp_string_literals(text) if re.fullmatch(r"process_[a-z0-9_]+", v)}
        for reference in sorted(references):
            name = constants.get(reference, reference)
            if not re.fullmatch(r"process_[a-z0-9_]+", name):
                raise AssertionError(f"{rel(path)}: {reference} is not a process_* metric name")
            names.setdefault(name, []).append(rel(path))
            found += 1
    if not found:
        raise AssertionError("no process_* metric found in pipeline/src/metrics/process_metrics*")
    return names


# --------------------------------------------------------------------------------------------
# docs/specs/instrumentation.md
# --------------------------------------------------------------------------------------------


def split_row(line):
    cells = line.strip().strip("|").split("|")
    return [c.strip() for c in cells]


def documented_metrics():
    """{name: type} from the tables of section 1 of instrumentation.md whose first column is
    "name"; raises on a duplicate, a missing type or a malformed name cell."""
    path = src("docs", "specs", "instrumentation.md")
    text = read(path)
    section = re.search(r"^## 1\. .*?(?=^## 2\. )", text, re.M | re.S)
    if not section:
        raise AssertionError(f"{rel(path)}: section '## 1.' not found")
    documented = {}
    errors = []
    header = None
    for line in section.group(0).splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = split_row(line)
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if set("".join(cells)) <= set("-: "):
            continue  # the separator row
        if header[0] != "name":
            continue
        match = re.fullmatch(r"`([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?`", cells[0])
        if not match:
            errors.append(f"malformed name cell: {cells[0]!r}")
            continue
        name = match.group(1)
        kind = cells[header.index("type")] if "type" in header else ""
        if kind not in METRIC_TYPES:
            errors.append(f"{name}: type {kind!r} is not one of {sorted(METRIC_TYPES)}")
        if name in documented:
            errors.append(f"{name}: documented twice")
        documented[name] = kind
    if errors:
        raise AssertionError(f"{rel(path)}:\n  " + "\n  ".join(errors))
    return documented


# --------------------------------------------------------------------------------------------
# PromQL: the metric names an expression reads.
# --------------------------------------------------------------------------------------------

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "atan2"}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
NUMBER_WORDS = {"inf", "nan"}
NAME_START = re.compile(r"[A-Za-z_:]")
NAME_CHARS = re.compile(r"[A-Za-z0-9_:]*")
NUMBER = re.compile(r"(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)((?:[0-9]+|ms|[smhdwy])*)")


class PromqlError(ValueError):
    pass


def _skip_quoted(expr, i):
    quote = expr[i]
    j = i + 1
    while j < len(expr) and expr[j] != quote:
        j += 2 if expr[j] == "\\" and quote != "`" else 1
    if j >= len(expr):
        raise PromqlError(f"unterminated string at {i}: {expr!r}")
    return j + 1


def _skip_balanced(expr, i, open_char, close_char):
    """Index after the close_char matching the open_char at i (quotes inside respected)."""
    depth = 0
    j = i
    while j < len(expr):
        c = expr[j]
        if c in "\"'`":
            j = _skip_quoted(expr, j)
            continue
        if c == open_char:
            depth += 1
        elif c == close_char:
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    raise PromqlError(f"unbalanced {open_char!r} at {i}: {expr!r}")


def _skip_space(expr, i):
    while i < len(expr) and expr[i].isspace():
        i += 1
    return i


def _names_in_matchers(body):
    """A name given as {__name__="…"} inside a matcher list."""
    return set(re.findall(r"__name__\s*=\s*\"([A-Za-z_:][A-Za-z0-9_:]*)\"", body))


def promql_names(expr):
    """The metric names a PromQL expression selects. Skipped: functions (a name followed by "("),
    keywords, aggregation operators, label matchers {…}, ranges and subqueries […], label lists
    after by/without/on/ignoring/group_left/group_right, strings, numbers and durations,
    comments, Grafana variables ($x, ${x}, [[x]])."""
    names = set()
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
        elif c == "#":
            j = expr.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'`":
            i = _skip_quoted(expr, i)
        elif c == "{":
            j = _skip_balanced(expr, i, "{", "}")
            names |= _names_in_matchers(expr[i:j])
            i = j
        elif c == "[":
            i = _skip_balanced(expr, i, "[", "]")
        elif c == "$":
            if expr.startswith("${", i):
                i = _skip_balanced(expr, i + 1, "{", "}")
            else:
                i += 1
                i += len(NAME_CHARS.match(expr, i).group(0))
        elif c.isdigit() or (c == "." and i + 1 < n and expr[i + 1].isdigit()):
            match = NUMBER.match(expr, i)
            if not match or match.end() == i:
                raise PromqlError(f"bad number at {i}: {expr!r}")
            i = match.end()
            if i < n and (expr[i].isalnum() or expr[i] == "_"):
                raise PromqlError(f"bad number or duration at {match.start()}: {expr!r}")
        elif NAME_START.match(c):
            word = NAME_CHARS.match(expr, i).group(0)
            i += len(word)
            after = _skip_space(expr, i)
            following = expr[after] if after < n else ""
            if word in LABEL_LIST_KEYWORDS:
                if following == "(":
                    i = _skip_balanced(expr, after, "(", ")")
            elif word in KEYWORDS or word.lower() in NUMBER_WORDS:
                pass
            elif following == "(":
                pass  # a function or an aggregation
            elif word in AGGREGATIONS and re.match(r"(by|without)\b", expr[after:]):
                pass  # sum by (…) (…)
            else:
                names.add(word)
        else:
            i += 1  # operators, parentheses, commas, @
    return names


def template_query_names(query):
    """Names read by a Grafana Prometheus variable query: label_values(selector, label),
    label_values(label) (none), metrics(regex) (none), query_result(expr), or plain PromQL."""
    query = query.strip()
    match = re.fullmatch(r"label_values\((.*)\)", query, re.S)
    if match:
        body = match.group(1)
        # The label is the argument after the last top-level comma.
        depth, split = 0, -1
        j = 0
        while j < len(body):
            if body[j] in "\"'`":
                j = _skip_quoted(body, j)
                continue
            if body[j] in "({[":
                depth += 1
            elif body[j] in ")}]":
                depth -= 1
            elif body[j] == "," and depth == 0:
                split = j
            j += 1
        return promql_names(body[:split]) if split >= 0 else set()
    if re.fullmatch(r"(metrics|label_names)\(.*\)", query, re.S):
        return set()
    match = re.fullmatch(r"query_result\((.*)\)", query, re.S)
    return promql_names(match.group(1) if match else query)


class PromqlNamesTest(unittest.TestCase):
    """The tokenizer itself."""

    CASES = [
        ('sum by (stage, error_type) (rate(point_tron_stage_errors_total{stage=~"$stage", '
         'instance=~"$instance"}[$__rate_interval]))', {"point_tron_stage_errors_total"}),
        ("histogram_quantile(0.99, sum by (stage, le) (rate(point_tron_loop_lag_seconds_bucket[5m])))",
         {"point_tron_loop_lag_seconds_bucket"}),
        ("time() - point_tron_backup_last_success_timestamp_seconds > 10800",
         {"point_tron_backup_last_success_timestamp_seconds"}),
        ('point_tron_aggregator_day_blocks{parity="odd"} / ignoring (parity) '
         "sum without (parity) (point_tron_aggregator_day_blocks)", {"point_tron_aggregator_day_blocks"}),
        ("a and on (instance, job) b unless c offset 1h30m", {"a", "b", "c"}),
        ("up{job=\"x\"} == 0 or absent(up)", {"up"}),
        ("max_over_time(x[1h:5m]) * on(instance) group_left(version, le) point_tron_build_info",
         {"x", "point_tron_build_info"}),
        ("rate(foo[${__range}]) / 1e3 + 0.5 - Inf # ignored_name\n* .5e-3 + 0x1F", {"foo"}),
        ("sum(rate(x_total[5m])) by (stage) > bool 3", {"x_total"}),
        ('{__name__="point_tron_bugs_total", stage="de}coder"}', {"point_tron_bugs_total"}),
        ('count_values("value", point_tron_build_info) and topk(3, y) @ start()',
         {"point_tron_build_info", "y"}),
        ('label_replace(x, "dst", "$1", "src", "(.*)") + point_tron:blocks:rate5m',
         {"x", "point_tron:blocks:rate5m"}),
        ("sum by(stage)(a) / min without(le)(b) - quantile(0.5, c) + -d offset -5m", {"a", "b", "c", "d"}),
        ("delta(point_tron_persister_block_height[3m]) <= 0 and $custom_var", {"point_tron_persister_block_height"}),
        ("absent_over_time(nan_metric[2m]) + NaN", {"nan_metric"}),
    ]

    def test_cases(self):
        for expr, expected in self.CASES:
            with self.subTest(expr=expr):
                self.assertEqual(promql_names(expr), expected)

    def test_template_queries(self):
        self.assertEqual(template_query_names('label_values(point_tron_health_status{stage=~"$stage"}, instance)'),
                         {"point_tron_health_status"})
        self.assertEqual(template_query_names("label_values(stage)"), set())
        self.assertEqual(template_query_names("metrics(point_tron_.*)"), set())
        self.assertEqual(template_query_names("query_result(topk(5, sum by (stage) (rate(z[1h]))))"), {"z"})

    def test_malformed(self):
        for expr in ('rate(x{a="b"[5m])', 'x{a="b}', "rate(x[5m)", "x > 5q"):
            with self.subTest(expr=expr):
                with self.assertRaises(PromqlError):
                    promql_names(expr)


# --------------------------------------------------------------------------------------------
# Where expressions live.
# --------------------------------------------------------------------------------------------


def dashboard_files():
    return sorted(glob.glob(src("ops", "grafana", "dashboards", "*.json")))


def all_panels(panels):
    for panel in panels or []:
        yield panel
        yield from all_panels(panel.get("panels"))


def dashboard_expressions(path):
    """[(where, kind, text)]: kind "promql" or "template"."""
    dashboard = json.loads(read(path))
    out = []
    for panel in all_panels(dashboard.get("panels")):
        for target in panel.get("targets") or []:
            if target.get("expr"):
                out.append((f"{rel(path)} panel {panel.get('id')} '{panel.get('title')}' "
                            f"target {target.get('refId')}", "promql", target["expr"]))
    for variable in (dashboard.get("templating") or {}).get("list") or []:
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if query:
            out.append((f"{rel(path)} variable ${variable.get('name')}", "template", query))
    for annotation in (dashboard.get("annotations") or {}).get("list") or []:
        if annotation.get("expr"):
            out.append((f"{rel(path)} annotation '{annotation.get('name')}'", "promql", annotation["expr"]))
    return out


def rule_files():
    files = [src("stages", "alerter", "rules", "pointtron.rules.yaml")]
    rules_dir = src("ops", "prometheus", "rules")
    if os.path.isdir(rules_dir):
        files += sorted(glob.glob(os.path.join(rules_dir, "*.yml")) + glob.glob(os.path.join(rules_dir, "*.yaml")))
    return files


def rule_expressions(path):
    """([(where, "promql", expr)], {recorded names})."""
    document = yaml.safe_load(read(path)) or {}
    out, recorded = [], set()
    for group in document.get("groups") or []:
        for rule in group.get("rules") or []:
            label = rule.get("alert") or rule.get("record")
            if rule.get("record"):
                recorded.add(rule["record"])
            out.append((f"{rel(path)} group {group.get('name')} rule {label}", "promql", str(rule.get("expr", ""))))
    return out, recorded


# --------------------------------------------------------------------------------------------
# The checks.
# --------------------------------------------------------------------------------------------


class MetricNamesTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.registered = registered_names()
        cls.documented = documented_metrics()

    def test_registered_names_are_documented(self):
        missing = sorted(set(self.registered) - set(self.documented))
        if missing:
            self.fail("registered in the code but not in docs/specs/instrumentation.md:\n  " +
                      "\n  ".join(f"{name}  ({', '.join(sorted(set(self.registered[name])))})"
                                  for name in missing))

    def test_documented_names_are_registered(self):
        extra = sorted(set(self.documented) - set(self.registered))
        if extra:
            self.fail("documented in docs/specs/instrumentation.md but registered nowhere in "
                      "pipeline/ or stages/:\n  " + "\n  ".join(extra))

    def test_documented_types_follow_the_naming_rules(self):
        problems = []
        for name, kind in sorted(self.documented.items()):
            if kind == "counter" and not name.endswith("_total"):
                problems.append(f"{name}: a counter not ending in _total")
            if name.endswith("_total") and kind != "counter":
                problems.append(f"{name}: ends in _total but is a {kind}")
            if not (name.startswith(("point_tron_", "process_")) or name == "http_requests_total"):
                problems.append(f"{name}: neither point_tron_*, process_* nor http_requests_total")
        if problems:
            self.fail("\n  ".join(["docs/specs/instrumentation.md:"] + problems))

    def expressions(self):
        """[(where, kind, text)] of every dashboard and rule file, and the recorded names."""
        found, recorded = [], set()
        for path in dashboard_files():
            found += dashboard_expressions(path)
        for path in rule_files():
            self.assertTrue(os.path.isfile(path), f"{rel(path)} is missing")
            expressions, names = rule_expressions(path)
            found += expressions
            recorded |= names
        return found, recorded

    def check_name(self, name, recorded):
        """None when the name exists, else why not."""
        if name in self.registered or name in recorded or name in PROMETHEUS_SERIES:
            return None
        for suffix in HISTOGRAM_SUFFIXES:
            base = name[: -len(suffix)]
            if name.endswith(suffix) and base in self.registered:
                kind = self.documented.get(base)
                if kind in ("histogram", "summary") or (kind is None and suffix != "_bucket"):
                    return None
                return f"{base} is a {kind}: it has no {suffix} series"
        return "not a registered metric"

    def test_expressions_read_registered_metrics(self):
        expressions, recorded = self.expressions()
        self.assertTrue(any(kind == "promql" and "grafana" in where for where, kind, _ in expressions),
                        "no expression found in ops/grafana/dashboards/*.json")
        problems = []
        for where, kind, text in expressions:
            if not text.strip():
                problems.append(f"{where}: empty expression")
                continue
            try:
                names = promql_names(text) if kind == "promql" else template_query_names(text)
            except PromqlError as error:
                problems.append(f"{where}: {error}")
                continue
            if kind == "promql" and not names and "vector(" not in text:
                problems.append(f"{where}: reads no metric: {text!r}")
            for name in sorted(names):
                why = self.check_name(name, recorded)
                if why:
                    problems.append(f"{where}: {name}: {why}")
        if problems:
            self.fail("expressions reading unknown metrics or not parsable:\n  " + "\n  ".join(problems))

    def test_prometheus_rules_directory(self):
        rules_dir = src("ops", "prometheus", "rules")
        if not os.path.isdir(rules_dir):
            self.skipTest("ops/prometheus/rules/ does not exist yet")
        self.assertTrue(glob.glob(os.path.join(rules_dir, "*.y*ml")), "ops/prometheus/rules/ has no rule file")


DATASOURCE_UID = "prometheus"


class DashboardsTest(unittest.TestCase):

    def test_dashboards_exist(self):
        self.assertGreaterEqual(len(dashboard_files()), 2, "expected the dashboards in ops/grafana/dashboards/")

    def datasource_ok(self, datasource, datasource_variables):
        """A panel's or target's datasource: the provisioned Prometheus, a datasource variable of
        type prometheus, or absent (the default datasource, which provisioning makes Prometheus)."""
        if datasource is None:
            return True
        if isinstance(datasource, str):
            uid = datasource
        elif isinstance(datasource, dict):
            if datasource.get("type") not in (None, "prometheus"):
                return False
            uid = datasource.get("uid")
        else:
            return False
        if uid == DATASOURCE_UID:
            return True
        match = re.fullmatch(r"\$\{?(\w+)\}?", uid or "")
        return bool(match and match.group(1) in datasource_variables)

    def test_dashboard_structure(self):
        problems = []
        uids, titles = {}, {}
        for path in dashboard_files():
            name = rel(path)
            try:
                dashboard = json.loads(read(path))
            except json.JSONDecodeError as error:
                problems.append(f"{name}: not JSON: {error}")
                continue
            uid, title = dashboard.get("uid"), dashboard.get("title")
            if not isinstance(uid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid):
                problems.append(f"{name}: uid {uid!r} is missing or invalid")
            elif uid in uids:
                problems.append(f"{name}: uid {uid} also used by {uids[uid]}")
            else:
                uids[uid] = name
            if not isinstance(title, str) or not title.strip():
                problems.append(f"{name}: title is missing")
            elif title in titles:
                problems.append(f"{name}: title {title!r} also used by {titles[title]}")
            else:
                titles[title] = name
            if not isinstance(dashboard.get("schemaVersion"), int) or dashboard["schemaVersion"] < 36:
                problems.append(f"{name}: schemaVersion {dashboard.get('schemaVersion')!r} (Grafana 10 writes 36 or later)")
            if dashboard.get("id") is not None:
                problems.append(f"{name}: id must be null for provisioning, not {dashboard.get('id')!r}")

            variables = (dashboard.get("templating") or {}).get("list") or []
            variable_names = {v.get("name") for v in variables}
            datasource_variables = {v.get("name") for v in variables
                                    if v.get("type") == "datasource" and v.get("query") == "prometheus"}
            for variable in variables:
                if variable.get("type") == "query" and not self.datasource_ok(variable.get("datasource"),
                                                                              datasource_variables):
                    problems.append(f"{name}: variable ${variable.get('name')}: datasource is not Prometheus")

            ids = {}
            panels = list(all_panels(dashboard.get("panels")))
            if not panels:
                problems.append(f"{name}: no panels")
            for panel in panels:
                where = f"{name}: panel {panel.get('id')} '{panel.get('title')}'"
                panel_id = panel.get("id")
                if not isinstance(panel_id, int):
                    problems.append(f"{where}: id is not an integer")
                elif panel_id in ids:
                    problems.append(f"{where}: id also used by '{ids[panel_id]}'")
                else:
                    ids[panel_id] = panel.get("title")
                if not panel.get("type"):
                    problems.append(f"{where}: no type")
                if not panel.get("title"):
                    problems.append(f"{where}: no title")
                grid = panel.get("gridPos") or {}
                if not all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y")):
                    problems.append(f"{where}: gridPos needs integer h, w, x, y")
                elif grid["x"] < 0 or grid["w"] < 1 or grid["x"] + grid["w"] > 24:
                    problems.append(f"{where}: gridPos outside the 24 columns")
                if panel.get("type") in ("row", "text"):
                    continue
                if not self.datasource_ok(panel.get("datasource"), datasource_variables):
                    problems.append(f"{where}: datasource {panel.get('datasource')!r} is not uid {DATASOURCE_UID}")
                targets = panel.get("targets") or []
                if not targets:
                    problems.append(f"{where}: no targets")
                ref_ids = [t.get("refId") for t in targets]
                if len(set(ref_ids)) != len(ref_ids) or not all(ref_ids):
                    problems.append(f"{where}: refIds {ref_ids} are not unique and set")
                for target in targets:
                    if not isinstance(target.get("expr"), str) or not target["expr"].strip():
                        problems.append(f"{where} target {target.get('refId')}: no expr")
                    if not self.datasource_ok(target.get("datasource"), datasource_variables):
                        problems.append(f"{where} target {target.get('refId')}: datasource is not uid {DATASOURCE_UID}")

            for where, _, text in dashboard_expressions(path):
                for variable in re.findall(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", text):
                    used = next(v for v in variable if v)
                    if used.isdigit():
                        continue  # $1 of a label_replace replacement
                    if used not in variable_names and used not in GRAFANA_BUILTIN_VARIABLES:
                        problems.append(f"{where}: ${used} is not a template variable")
        if problems:
            self.fail("dashboard problems:\n  " + "\n  ".join(problems))

    def test_expressions_parse(self):
        if not ARGS.promtool:
            self.skipTest("promtool not found")
        # Grafana replaces its variables before Prometheus sees the query: durations in ranges,
        # values inside matcher strings.
        durations = {"__rate_interval": "1m", "__interval": "15s", "__range": "6h", "__auto": "1m"}

        def substitute(expr):
            def one(match):
                name = next(g for g in match.groups() if g)
                return durations.get(name, ".*")
            return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", one, expr)

        rules, places = [], []
        for path in dashboard_files():
            for where, kind, text in dashboard_expressions(path):
                if kind == "promql":
                    rules.append({"record": f"check:expr{len(rules)}", "expr": substitute(text)})
                    places.append(where)
        with tempfile.NamedTemporaryFile("w", suffix=".yml", encoding="utf-8") as scratch:
            yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, scratch)
            scratch.flush()
            result = subprocess.run([ARGS.promtool, "check", "rules", scratch.name],
                                    capture_output=True, text=True)
        if result.returncode != 0:
            output = result.stdout + result.stderr
            # promtool names the failing rule by its index: map it back to the panel.
            output = re.sub(r"check:expr(\d+)", lambda m: places[int(m.group(1))], output)
            self.fail("dashboard expressions promtool cannot parse:\n" + output)

    def test_provisioning(self):
        datasources = yaml.safe_load(read(src("ops", "grafana", "provisioning", "datasources", "prometheus.yml")))
        matches = [d for d in datasources.get("datasources") or [] if d.get("uid") == DATASOURCE_UID]
        self.assertEqual(len(matches), 1, "provisioning/datasources/prometheus.yml: one datasource with uid prometheus")
        datasource = matches[0]
        self.assertEqual(datasource.get("name"), "Prometheus")
        self.assertEqual(datasource.get("type"), "prometheus")
        self.assertEqual(datasource.get("url"), "http://prometheus:9090")
        self.assertTrue(datasource.get("isDefault"), "panels without a datasource rely on Prometheus being the default")

        providers = yaml.safe_load(read(src("ops", "grafana", "provisioning", "dashboards", "pointtron.yml")))
        paths = [(p.get("options") or {}).get("path") for p in providers.get("providers") or []]
        self.assertIn("/var/lib/grafana/dashboards", paths)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="the project's source directory")
    parser.add_argument("--promtool", default="", help="promtool, to parse the dashboard expressions")
    ARGS, rest = parser.parse_known_args()
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    # The tokenizer's own cases first: the other checks depend on it.
    for case in (PromqlNamesTest, MetricNamesTest, DashboardsTest):
        suite.addTests(loader.loadTestsFromTestCase(case))
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
