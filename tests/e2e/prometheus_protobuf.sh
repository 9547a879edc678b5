#!/usr/bin/env bash
# A real Prometheus (Debian's `prometheus` package, 2.42 on bookworm) scrapes a release pushgate
# holding the Flink fixtures, and must ingest exactly the series, with the values, that
# pushgate's own text scrape shows. Two runs:
#   1. Prometheus' default settings. 2.42 asks for OpenMetrics first (its default Accept is
#      `application/openmetrics-text;version=1.0.0,...;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1`),
#      so this run checks our OpenMetrics output against Prometheus' own parser.
#   2. `--enable-feature=native-histograms`: 2.42 then puts delimited protobuf first, so this run
#      checks protobuf negotiation and our protobuf output.
# Both use `honor_labels: true` (as the Pushgateway needs) and gzip (Prometheus always asks for
# it). Which format pushgate served is read from its `pushgate_scrapes_total{format,encoding}`.
# Also checks the OpenMetrics output with the reference Python parser (prometheus_client).
# Prometheus runs as a plain process with its own temp config and data dir, on free loopback
# ports (helpers in lib.sh).
# Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/../.."

. tests/e2e/lib.sh
need_prometheus
start_pushgate
work=$E2E_WORK
pg=$PG

push_flink_fixtures
push flink-2.3.0-edge/tm.txt 'flink+job+%C3%BC%2Bx/pct/50%25/cluster/prod+east/site/%C3%A7%C3%B6d%C3%A9'
push api/mixed.txt api/instance/i1
curl -sf "$pg/metrics" >"$work/text.txt"

# The reference OpenMetrics parser must take our OpenMetrics output whole.
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q prometheus_client
curl -sf -H 'Accept: application/openmetrics-text; version=1.0.0' "$pg/metrics" >"$work/om.txt"
"$work/venv/bin/python" - "$work/om.txt" <<'PY'
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(open(sys.argv[1], encoding="utf-8").read()))
samples = sum(len(f.samples) for f in families)
print(f"prometheus_client parsed our OpenMetrics: {len(families)} families, {samples} samples")
PY

run_prometheus() { # name, extra flags...
  local name=$1
  shift
  write_prometheus_config "$work/$name"
  start_prometheus "$work/$name" "$@"
  local pid=$PROM_PID prom=$PROM
  # Three scrapes after the first, so the last values are in.
  wait_scrapes pushgate 4 || { echo "FAIL: $name: Prometheus did not scrape"; tail -20 "$work/$name/prometheus.log"; return 1; }
  curl -sf "$prom/api/v1/targets" >"$work/$name/targets.json"
  curl -sf "$prom/api/v1/query" --data-urlencode 'query={job=~".+",job!="pushgate"}' >"$work/$name/series.json"
  stop_pid "$pid"
}

compare() { # name, expected format
  python3 - "$work/text.txt" "$work/$1/series.json" "$work/$1/targets.json" "$1" <<'PY'
import json, math, sys

def parse_exposition(path):
    """name+labels -> value for every sample line of pushed families (text format 0.0.4)."""
    own = ("pushgateway_", "pushgate_", "process_")
    out = {}
    for line in open(path, encoding="utf-8").read().split("\n"):
        if not line or line.startswith("#") or line.startswith(own):
            continue
        i, labels = 0, {}
        while i < len(line) and line[i] not in "{ ":
            i += 1
        name = line[:i]
        if line[i] == "{":
            i += 1
            while line[i] != "}":
                eq = line.index("=", i)
                key = line[i:eq]
                i = eq + 2
                val = []
                while line[i] != '"':
                    if line[i] == "\\":
                        val.append({"n": "\n", "\\": "\\", '"': '"'}[line[i + 1]])
                        i += 2
                    else:
                        val.append(line[i])
                        i += 1
                i += 1
                if line[i] == ",":
                    i += 1
                labels[key] = "".join(val)
            i += 1
        value = float(line[i + 1:].split(" ")[0])
        # Prometheus drops empty label values.
        key = (name, tuple(sorted((k, v) for k, v in labels.items() if v != "")))
        out[key] = value
    return out

def canonical(key):
    """`le` and `quantile` as floats: from protobuf, Prometheus writes them as OpenMetrics
    floats (`100.0`), from text it keeps what it read (`100`)."""
    name, labels = key
    return name, tuple((k, repr(float(v)) if k in ("le", "quantile") else v) for k, v in labels)

want = {canonical(k): v for k, v in parse_exposition(sys.argv[1]).items()}
result = json.load(open(sys.argv[2]))["data"]["result"]
got = {}
for r in result:
    m = dict(r["metric"])
    name = m.pop("__name__")
    # The gateway's own series, left out of `want` too: the Flink signal series carry the
    # Flink job's labels (not job="pushgate") and change after the text scrape was taken.
    if name.startswith(("pushgateway_", "pushgate_", "process_")):
        continue
    got[canonical((name, tuple(sorted(m.items()))))] = float(r["value"][1])
target = json.load(open(sys.argv[3]))["data"]["activeTargets"][0]
name = sys.argv[4]
problems = []
if target["lastError"]:
    problems.append(f"scrape error: {target['lastError']}")
missing = sorted(set(want) - set(got))
# From protobuf, Prometheus always ingests a summary's `_sum` (0 when absent, as Go's getters
# read an unset field); Flink pushes summaries without `_sum`, which our text scrape keeps out.
summaries = {(n, tuple(l for l in ls if l[0] != "quantile")) for n, ls in want if any(l[0] == "quantile" for l in ls)}
invented = {k for k in set(got) - set(want)
            if k[0].endswith("_sum") and got[k] == 0 and (k[0][:-4], k[1]) in summaries}
if invented:
    print(f"{name}: {len(invented)} summary _sum series only in Prometheus (0, invented by its protobuf parser)")
extra = sorted(set(got) - set(want) - invented)
problems += [f"missing in Prometheus: {k}" for k in missing[:5]]
problems += [f"only in Prometheus: {k}" for k in extra[:5]]
for k in set(want) & set(got):
    a, b = want[k], got[k]
    if not (a == b or (math.isnan(a) and math.isnan(b))):
        # push_time_seconds is the same value, printed by Prometheus with fewer digits.
        if not (k[0].startswith("push_") and abs(a - b) < 1e-3):
            problems.append(f"value of {k}: text {a}, Prometheus {b}")
print(f"{name}: Prometheus ingested {len(got)} series, the text scrape has {len(want)}")
if problems:
    print("\n".join(problems[:20]))
    sys.exit(1)
PY
}

scrapes() { # format -> pushgate's count of gzip scrapes served in that format
  curl -sf "$pg/metrics" | awk -v f="$1" '$1 == "pushgate_scrapes_total{encoding=\"gzip\",format=\"" f "\"}" {print $2}'
}

fail=0
run_prometheus default
compare default || fail=1
om=$(scrapes openmetrics)
[ -n "$om" ] && echo "default: pushgate served OpenMetrics (gzip) $om times" ||
  { echo "FAIL: default run did not negotiate OpenMetrics"; fail=1; }

run_prometheus native --enable-feature=native-histograms
compare native || fail=1
pb=$(scrapes protobuf)
[ -n "$pb" ] && echo "native-histograms: pushgate served protobuf (gzip) $pb times" ||
  { echo "FAIL: native-histograms run did not negotiate protobuf"; fail=1; }

if [ "$fail" = 0 ]; then echo "prometheus-protobuf: 2 passed, 0 failed"; else echo "prometheus-protobuf: failed"; exit 1; fi
