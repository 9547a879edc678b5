#!/usr/bin/env python3
"""Assertions on a running Prometheus' HTTP API, for tests/e2e/prometheus_e2e.sh.

Standard library only. Each command exits 0 when its assertion holds; otherwise it prints what
was asked and Prometheus' answer (truncated) to stdout and exits 1.

  promapi.py BASE query EXPR [MATCH...]   an instant query has a result matching all MATCHes
  promapi.py BASE empty EXPR              an instant query has no result
  promapi.py BASE count EXPR              prints the number of results (no assertion)
  promapi.py BASE scalar EXPR             prints the value of the only result ("" if none)
  promapi.py BASE series SELECTOR [MATCH...] [count=N]
                                          /api/v1/series: every series matches all MATCHes
                                          (and there are N of them; at least one without count=)
  promapi.py BASE label_values LABEL SELECTOR
                                          prints the values of LABEL among the series, one a line
  promapi.py BASE targets POOL...         /api/v1/targets: exactly one active target per POOL,
                                          health "up", lastError ""
  promapi.py BASE self_counters PREFIX... Prometheus' own /metrics: every sample whose name
                                          starts with a PREFIX is 0 (and there is at least one)

MATCH: `k=v` (label k is v), `k!` (label k absent), `k~RE` (RE matches the whole value),
`value=X` (the sample value is X).
"""
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request


def get(base, path, params=()):
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:
        return fail(f"GET {url}: HTTP {e.code}", e.read().decode(errors="replace"))


def fail(what, answer):
    text = answer if isinstance(answer, str) else json.dumps(answer, indent=1, sort_keys=True)
    if len(text) > 3000:
        text = text[:3000] + f"\n... ({len(text)} characters in all)"
    print(f"FAIL: {what}\nPrometheus answered:\n{text}")
    sys.exit(1)


def api(base, path, params):
    body = json.loads(get(base, path, params))
    if body.get("status") != "success":
        fail(f"{path} {params}", body)
    return body


def matches(labels, value, spec):
    if spec.startswith("value="):
        return value is not None and float(value) == float(spec[6:])
    if spec.endswith("!"):
        return spec[:-1] not in labels
    if "~" in spec and ("=" not in spec or spec.index("~") < spec.index("=")):
        k, rx = spec.split("~", 1)
        return k in labels and re.fullmatch(rx, labels[k]) is not None
    k, v = spec.split("=", 1)
    return labels.get(k) == v


def query(base, expr):
    return api(base, "/api/v1/query", [("query", expr)])


def cmd_query(base, expr, *specs):
    body = query(base, expr)
    for r in body["data"]["result"]:
        if all(matches(r["metric"], r["value"][1], s) for s in specs):
            return
    fail(f"query {expr!r}: no result matches {' '.join(specs) or '(anything)'}", body)


def cmd_empty(base, expr):
    body = query(base, expr)
    if body["data"]["result"]:
        fail(f"query {expr!r}: expected no result", body)


def cmd_count(base, expr):
    print(len(query(base, expr)["data"]["result"]))


def cmd_scalar(base, expr):
    result = query(base, expr)["data"]["result"]
    print(result[0]["value"][1] if len(result) == 1 else "")


def cmd_series(base, selector, *specs):
    want = [s for s in specs if s.startswith("count=")]
    specs = [s for s in specs if not s.startswith("count=")]
    body = api(base, "/api/v1/series", [("match[]", selector)])
    series = body["data"]
    bad = [s for s in series if not all(matches(s, None, m) for m in specs)]
    if bad:
        fail(f"series {selector!r}: {len(bad)} of {len(series)} do not match {' '.join(specs)}", bad[:5])
    if want and len(series) != int(want[0][6:]):
        fail(f"series {selector!r}: expected {want[0][6:]} series, got {len(series)}", series[:5])
    if not series:
        fail(f"series {selector!r}: expected at least one series", body)


def cmd_label_values(base, label, selector):
    series = api(base, "/api/v1/series", [("match[]", selector)])["data"]
    print("\n".join(sorted({s[label] for s in series if label in s})))


def cmd_targets(base, *pools):
    body = api(base, "/api/v1/targets", [("state", "active")])
    targets = body["data"]["activeTargets"]
    for pool in pools:
        mine = [t for t in targets if t["scrapePool"] == pool]
        if len(mine) != 1:
            fail(f"targets: expected one active target in pool {pool!r}, got {len(mine)}", body)
        t = mine[0]
        if t["health"] != "up" or t["lastError"] != "":
            fail(f"targets: pool {pool!r} has health {t['health']!r}, lastError {t['lastError']!r}", t)


def cmd_self_counters(base, *prefixes):
    text = get(base, "/metrics")
    seen, bad = [], []
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(prefixes):
            continue
        name, value = line.rsplit(" ", 1)
        seen.append(name)
        if float(value) != 0:
            bad.append(line)
    if not seen:
        fail(f"Prometheus' /metrics has no sample starting with {' or '.join(prefixes)}", text[:2000])
    if bad:
        fail("Prometheus counted scrape problems", "\n".join(bad))
    print(f"{len(seen)} counters, all 0: " + ", ".join(seen))


COMMANDS = {
    "query": cmd_query,
    "empty": cmd_empty,
    "count": cmd_count,
    "scalar": cmd_scalar,
    "series": cmd_series,
    "label_values": cmd_label_values,
    "targets": cmd_targets,
    "self_counters": cmd_self_counters,
}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[2] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[2]](sys.argv[1].rstrip("/"), *sys.argv[3:])
