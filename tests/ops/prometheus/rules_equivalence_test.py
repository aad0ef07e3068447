#!/usr/bin/env python3
"""Checks that ops/prometheus/rules/pointtron.rules.yml and the alerter's compiled-in rules
(stages/alerter/rules/pointtron.rules.yaml) define the same alerts.

For every alert: the same name, `for` (as a duration: 60s == 1m, missing == 0), `severity` label,
`runbook_url` annotation and annotation keys, the same point_tron_* metrics and the same range
windows in the expression. With --tests, also checks that the promtool unit tests have, for every
alert, a case where it fires and one where it must not; with --runbooks, that every runbook_url
anchor is a heading of that file. Fails listing every difference.

  rules_equivalence_test.py --alerter stages/alerter/rules/pointtron.rules.yaml \
      --prometheus ops/prometheus/rules/pointtron.rules.yml \
      [--tests ops/prometheus/tests/pointtron.rules.test.yml] [--runbooks docs/runbooks.md]
"""
import argparse
import re
import sys

import yaml

DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
METRIC = re.compile(r"\bpoint_tron_[a-z0-9_]+")
RANGE = re.compile(r"\[([0-9a-z]+)\]")


def duration_seconds(text):
    """Prometheus duration (1h30m, 5m, 0s) in seconds; None for an invalid one."""
    text = str(text).strip()
    if text == "0":
        return 0
    parts = DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(int(n) * DURATION_UNITS[u] for n, u in parts)


def load_alerts(path, problems):
    """{alertname: rule} of every alerting rule of a Prometheus rule file."""
    with open(path, encoding="utf-8") as f:
        document = yaml.safe_load(f)
    alerts = {}
    for group in (document or {}).get("groups") or []:
        for rule in group.get("rules") or []:
            name = rule.get("alert")
            if name is None:
                continue
            if name in alerts:
                problems.append(f"{path}: alert {name} is defined twice")
            alerts[name] = rule
    if not alerts:
        problems.append(f"{path}: no alerting rules")
    return alerts


def describe_for(rule):
    raw = rule.get("for", "0s")
    return raw, duration_seconds(raw)


def compare(alerter_path, prometheus_path, problems):
    alerter = load_alerts(alerter_path, problems)
    prometheus = load_alerts(prometheus_path, problems)
    for name in sorted(set(alerter) - set(prometheus)):
        problems.append(f"{name}: in {alerter_path} only")
    for name in sorted(set(prometheus) - set(alerter)):
        problems.append(f"{name}: in {prometheus_path} only")
    for name in sorted(set(alerter) & set(prometheus)):
        a, p = alerter[name], prometheus[name]
        (a_for_raw, a_for), (p_for_raw, p_for) = describe_for(a), describe_for(p)
        if a_for is None or p_for is None or a_for != p_for:
            problems.append(f"{name}: for is {a_for_raw!r} in the alerter, {p_for_raw!r} here")
        a_sev = (a.get("labels") or {}).get("severity")
        p_sev = (p.get("labels") or {}).get("severity")
        if a_sev != p_sev:
            problems.append(f"{name}: severity is {a_sev!r} in the alerter, {p_sev!r} here")
        a_ann, p_ann = a.get("annotations") or {}, p.get("annotations") or {}
        if a_ann.get("runbook_url") != p_ann.get("runbook_url"):
            problems.append(f"{name}: runbook_url is {a_ann.get('runbook_url')!r} in the alerter, "
                            f"{p_ann.get('runbook_url')!r} here")
        if sorted(a_ann) != sorted(p_ann):
            problems.append(f"{name}: annotations {sorted(a_ann)} in the alerter, {sorted(p_ann)} here")
        a_expr, p_expr = str(a.get("expr", "")), str(p.get("expr", ""))
        a_metrics, p_metrics = set(METRIC.findall(a_expr)), set(METRIC.findall(p_expr))
        if a_metrics != p_metrics:
            problems.append(f"{name}: the expression reads {sorted(a_metrics)} in the alerter, "
                            f"{sorted(p_metrics)} here")
        a_ranges = {duration_seconds(r) for r in RANGE.findall(a_expr)}
        p_ranges = {duration_seconds(r) for r in RANGE.findall(p_expr)}
        if a_ranges != p_ranges:
            problems.append(f"{name}: range windows {sorted(RANGE.findall(a_expr))} in the alerter, "
                            f"{sorted(RANGE.findall(p_expr))} here")
    return prometheus


def check_tests(tests_path, alerts, problems):
    """Every alert has a unit-test case where it fires and one where it does not."""
    with open(tests_path, encoding="utf-8") as f:
        document = yaml.safe_load(f)
    fires, silent = set(), set()
    for test in document.get("tests") or []:
        for case in test.get("alert_rule_test") or []:
            name = case.get("alertname")
            if case.get("exp_alerts"):
                fires.add(name)
                for alert in case["exp_alerts"]:
                    if not alert.get("exp_annotations"):
                        problems.append(f"{tests_path}: {name} at {case.get('eval_time')}: "
                                        "a firing case without exp_annotations")
            else:
                silent.add(name)
    for name in sorted(alerts):
        if name not in fires:
            problems.append(f"{tests_path}: no case where {name} fires")
        if name not in silent:
            problems.append(f"{tests_path}: no case where {name} must not fire")
    for name in sorted((fires | silent) - set(alerts)):
        problems.append(f"{tests_path}: cases for {name}, which no rule defines")


def check_runbooks(runbooks_path, alerts, problems):
    """Every runbook_url is <runbooks file>#<anchor of one of its headings>."""
    with open(runbooks_path, encoding="utf-8") as f:
        headings = [line.lstrip("#").strip() for line in f if line.startswith("#")]
    anchors = {re.sub(r"[^a-z0-9 _-]", "", h.lower()).replace(" ", "-") for h in headings}
    for name, rule in sorted(alerts.items()):
        url = str((rule.get("annotations") or {}).get("runbook_url", ""))
        _, _, anchor = url.partition("#")
        if not anchor or anchor not in anchors:
            problems.append(f"{name}: runbook_url {url!r} names no heading of {runbooks_path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerter", required=True, help="the alerter's rule file")
    parser.add_argument("--prometheus", required=True, help="the Prometheus rule file")
    parser.add_argument("--tests", help="promtool unit tests of the Prometheus rule file")
    parser.add_argument("--runbooks", help="the runbooks the runbook_url annotations point into")
    args = parser.parse_args()
    problems = []
    alerts = compare(args.alerter, args.prometheus, problems)
    if args.tests:
        check_tests(args.tests, alerts, problems)
    if args.runbooks:
        check_runbooks(args.runbooks, alerts, problems)
    if problems:
        print(f"FAIL: {len(problems)} difference(s):")
        for problem in problems:
            print("  - " + problem)
        return 1
    print(f"OK: {len(alerts)} alerts agree ({args.alerter} vs {args.prometheus}"
          + (f", tests {args.tests}" if args.tests else "")
          + (f", runbooks {args.runbooks}" if args.runbooks else "") + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
