#!/usr/bin/env python3
"""Small queries over a Prometheus text exposition (format 0.0.4), for tests/e2e/flink.sh.

Standard library only. FILE is a saved scrape; a missing or empty file is an empty scrape.

  promq.py select FILE FILTER...  -> "<count> <min> <max>" of the matching samples
                                     ("0 nan nan" when none match)
  promq.py groups FILE JOB LABEL  -> one tab-separated line per value of LABEL (the reporter-id
                                     label) among the samples with job=JOB:
                                     id, role (jm, tm, jm+tm or other), push_time_seconds (nan if
                                     absent), sample count, and the cluster and dc labels

FILTER: `k=v` (equal), `k!=v` (not equal), `k~RE` (RE matches the whole value), `!k` (label
absent), `+k` (label present); `__name__` is the metric name, and `v>X` keeps values above X.
"""
import math
import re
import sys

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+\S+)?$")
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
UNESCAPE = re.compile(r"\\(.)")


def parse_value(text):
    try:
        return float(text)
    except ValueError:
        return {"+Inf": math.inf, "-Inf": -math.inf}.get(text, math.nan)


def samples(path):
    """Yields (labels with __name__, value) for every sample line of the file."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            continue
        labels = {"__name__": m.group(1)}
        body, pos = m.group(2) or "", 0
        while pos < len(body):
            lm = LABEL.match(body, pos)
            if not lm:
                break
            labels[lm.group(1)] = UNESCAPE.sub(
                lambda e: "\n" if e.group(1) == "n" else e.group(1), lm.group(2))
            pos = lm.end()
        yield labels, parse_value(m.group(3))


def matcher(spec):
    if spec.startswith("!"):
        return lambda l, v: spec[1:] not in l
    if spec.startswith("+"):
        return lambda l, v: spec[1:] in l
    if spec.startswith("v>"):
        bound = float(spec[2:])
        return lambda l, v: v > bound
    m = re.match(r"^([a-zA-Z_][a-zA-Z0-9_]*)(!=|=|~)(.*)$", spec, re.S)
    if not m:
        sys.exit("promq: bad filter %r" % spec)
    key, op, want = m.groups()
    if op == "=":
        return lambda l, v: l.get(key) == want
    if op == "!=":
        return lambda l, v: l.get(key) != want
    rx = re.compile(want)
    return lambda l, v: key in l and rx.fullmatch(l[key]) is not None


def select(path, specs):
    tests = [matcher(s) for s in specs]
    values = [v for l, v in samples(path) if all(t(l, v) for t in tests)]
    if not values:
        return "0 nan nan"
    return "%d %r %r" % (len(values), min(values), max(values))


def groups(path, job, id_label):
    by_id = {}
    for labels, value in samples(path):
        if labels.get("job") != job or id_label not in labels:
            continue
        g = by_id.setdefault(labels[id_label], {
            "roles": set(), "push": math.nan, "n": 0,
            "cluster": labels.get("cluster", ""), "dc": labels.get("dc", "")})
        g["n"] += 1
        name = labels["__name__"]
        if name == "push_time_seconds":
            g["push"] = value
        elif name.startswith("flink_jobmanager_"):
            g["roles"].add("jm")
        elif name.startswith("flink_taskmanager_"):
            g["roles"].add("tm")
    out = []
    for gid, g in sorted(by_id.items()):
        role = "+".join(sorted(g["roles"])) or "other"
        out.append("\t".join([gid, role, repr(g["push"]), str(g["n"]), g["cluster"], g["dc"]]))
    return "\n".join(out)


def main(argv):
    if len(argv) >= 3 and argv[1] == "select":
        print(select(argv[2], argv[3:]))
    elif len(argv) == 5 and argv[1] == "groups":
        text = groups(argv[2], argv[3], argv[4])
        if text:
            print(text)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
