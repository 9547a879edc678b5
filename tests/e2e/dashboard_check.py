#!/usr/bin/env python3
"""Checks a Grafana dashboard's Prometheus queries, for tests/e2e/grafana_dashboard.sh.

  dashboard_check.py DASHBOARD.json KNOWN_NAMES RULES_OUT [all]

- every panel (rows' nested panels included; rows and text panels excepted) has at least one
  target, and every target a non-empty `expr`;
- panels and targets use the `${DS_PROMETHEUS}` data source, which is a datasource variable;
- Grafana variables in the exprs (`$job`, `${job}`, `[[job]]`, `$__rate_interval`, ...) are
  replaced by concrete values; an unknown variable is an error;
- every metric name an expr (or a variable's label_values() query) selects is in KNOWN_NAMES
  (one a line: what pushgate serves for the fixtures, its own metrics, and Prometheus' scrape
  series); a selector without a metric name is an error, as it cannot be checked;
- RULES_OUT receives one recording rule per expr (JSON, which is YAML), for
  `promtool check rules`. With `all`, the dashboard's own variables are `.*` (Grafana's "All",
  the dashboard's default) instead of single fixture values, for evaluating the rules' exprs.
Exits 1 listing every problem. Standard library only.
"""
import json
import re
import sys

# Concrete values for Grafana's variables: the dashboard's own (values from the fixtures) and
# Grafana's built-in interval variables.
VALUES = {
    "job": "flinkpgw",
    "job_name": "pgw_capture_job",
    "task_name": "Keyed_Reduce____Discard_Sink:_Writer",
    "pushgate": "127.0.0.1:9091",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
    "__range_s": "3600",
    "__interval_ms": "15000",
}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
TOKEN = re.compile(
    r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`'  # strings
    r"|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?[a-zA-Z]*|0[xX][0-9a-fA-F]+"  # numbers, durations
    r"|[a-zA-Z_:][a-zA-Z0-9_:]*"  # identifiers
    r"|=~|!~|!=|==|>=|<=|\S"
)
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "inf", "nan", "atan2"}
AGGREGATORS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
               "bottomk", "topk", "quantile"}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}


def substitute(expr, problems, where):
    def value(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in VALUES:
            problems.append(f"{where}: unknown variable ${name} in {expr!r}")
            return "x"
        return VALUES[name]
    return VARIABLE.sub(value, expr)


def metric_names(expr):
    """Metric names selected by a PromQL expression, and whether a selector lacks one."""
    tokens = TOKEN.findall(expr)
    names, nameless = set(), False
    i = 0
    while i < len(tokens):
        t = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if t in AGGREGATORS and nxt in ("by", "without"):  # sum by (a) (x)
            i += 1
            continue
        if t in LABEL_LISTS and nxt == "(":  # by (a, b): label names, not metrics
            i = tokens.index(")", i) + 1
            continue
        if t == "{":  # a selector's matchers; a bare `{...}` has no metric name
            prev = tokens[i - 1] if i else ""
            if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", prev) or prev in KEYWORDS:
                nameless = True
            i = tokens.index("}", i) + 1
            continue
        if t == "[":  # a range or subquery duration
            i = tokens.index("]", i) + 1
            continue
        if re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", t) and t not in KEYWORDS and nxt != "(":
            names.add(t)
        i += 1
    return names, nameless


def panels_of(dashboard):
    for p in dashboard.get("panels", []):
        yield p
        yield from p.get("panels", [])


def is_ds(ds):
    return ds in ("${DS_PROMETHEUS}", "$DS_PROMETHEUS") or (
        isinstance(ds, dict) and ds.get("uid") in ("${DS_PROMETHEUS}", "$DS_PROMETHEUS"))


def check(dashboard, known):
    problems, rules = [], []
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    ds = variables.get("DS_PROMETHEUS", {})
    if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("templating: no datasource variable DS_PROMETHEUS of type prometheus")

    def check_names(expr, where):
        names, nameless = metric_names(expr)
        if nameless:
            problems.append(f"{where}: a selector without a metric name cannot be checked: {expr!r}")
        for n in sorted(names - known):
            problems.append(f"{where}: metric {n!r} is not served by pushgate for the fixtures: {expr!r}")
        return names

    for name, v in variables.items():
        if v.get("type") != "query":
            continue
        query = v["query"]["query"] if isinstance(v.get("query"), dict) else v.get("query", "")
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", query or "")
        if not m:
            problems.append(f"variable {name}: query {query!r} is not label_values(selector, label)")
            continue
        if not is_ds(v.get("datasource")):
            problems.append(f"variable {name}: data source is not ${{DS_PROMETHEUS}}")
        selector = substitute(m.group(1), problems, f"variable {name}")
        check_names(selector, f"variable {name}")
        rules.append({"record": f"dashboard:variable_{name}", "expr": selector})

    ids, used = set(), set()
    for p in panels_of(dashboard):
        where = f"panel {p.get('id')} {p.get('title')!r}"
        if p.get("id") in ids:
            problems.append(f"{where}: duplicate panel id")
        ids.add(p.get("id"))
        if p.get("type") in ("row", "text"):
            continue
        targets = p.get("targets") or []
        if not targets:
            problems.append(f"{where}: no targets")
        if not is_ds(p.get("datasource")):
            problems.append(f"{where}: data source is not ${{DS_PROMETHEUS}}")
        for t in targets:
            expr = (t.get("expr") or "").strip()
            if not expr:
                problems.append(f"{where} target {t.get('refId')}: no expr")
                continue
            if not is_ds(t.get("datasource", p.get("datasource"))):
                problems.append(f"{where} target {t.get('refId')}: data source is not ${{DS_PROMETHEUS}}")
            concrete = substitute(expr, problems, where)
            used |= check_names(concrete, where)
            rules.append({"record": f"dashboard:panel_{p.get('id')}_{t.get('refId')}", "expr": concrete})
    return problems, rules, used


def main():
    dashboard_path, known_path, rules_path = sys.argv[1:4]
    if sys.argv[4:] == ["all"]:
        VALUES.update({k: ".*" for k in ("job", "job_name", "task_name", "pushgate")})
    with open(dashboard_path, encoding="utf-8") as f:
        dashboard = json.load(f)
    with open(known_path, encoding="utf-8") as f:
        known = {line.strip() for line in f if line.strip()}
    problems, rules, used = check(dashboard, known)
    with open(rules_path, "w", encoding="utf-8") as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, indent=1)
    if problems:
        print("\n".join(f"FAIL: {p}" for p in problems))
        sys.exit(1)
    print(f"{dashboard_path}: {len(rules)} queries over {len(used)} metric names, all served")


if __name__ == "__main__":
    main()
