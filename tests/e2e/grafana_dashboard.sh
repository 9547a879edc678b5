#!/usr/bin/env bash
# Checks deploy/grafana/pushgate-flink.json, the Grafana dashboard for Flink through pushgate:
#   - it is what deploy/grafana/build_dashboard.py generates (the two are committed together);
#   - every panel has targets, every target a non-empty expr, all on ${DS_PROMETHEUS};
#   - every expr, with Grafana's variables replaced by concrete values, is one recording rule
#     of a rules file that `promtool check rules` accepts (Debian's prometheus package, installed
#     when missing);
#   - every metric name the exprs and the variables select is one pushgate really serves: the
#     names a release pushgate exposes on /metrics and /metrics/aggregated with the Flink
#     fixtures PUT at Flink's paths, plus the Kafka-lag rollup (fed by one hand-written
#     KafkaSourceReader gauge, since the captured job had no Kafka source; only the rollup's name
#     is taken from that push), pushgate's own families (BUILTIN_FAMILIES in src/telemetry.rs:
#     some appear only after a rejection or an expiry), and the series Prometheus adds to every
#     scrape (up, scrape_*).
# The checker is also run on broken copies of the dashboard (an empty expr, a panel without
# targets, an unknown metric, invalid PromQL) and must refuse each.
# Prints "grafana-dashboard: N passed, M failed" last. Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh

DASH=deploy/grafana/pushgate-flink.json
W=$E2E_WORK
need_prometheus
# Signals every second, so their series are there when the names are collected.
start_pushgate --flink.signals.interval=1s

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# --- the names pushgate serves
push_flink_fixtures
names() { grep -v '^#' | sed -E 's/[{ ].*//' | grep -v '^$' | sort -u; }
curl -sf "$PG/metrics" | names >"$W/known"
curl -sf "$PG/metrics/aggregated" | names >>"$W/known"
cat >"$W/kafka.txt" <<'TXT'
# HELP flink_taskmanager_job_task_operator_KafkaSourceReader_KafkaConsumer_records_lag_max records-lag-max (scope: taskmanager_job_task_operator_KafkaSourceReader_KafkaConsumer)
# TYPE flink_taskmanager_job_task_operator_KafkaSourceReader_KafkaConsumer_records_lag_max gauge
flink_taskmanager_job_task_operator_KafkaSourceReader_KafkaConsumer_records_lag_max{host="localhost",job_name="kafka_job",task_name="Source:_Kafka",operator_name="Source:_Kafka",subtask_index="0",} 42.0
TXT
curl -sf -X PUT --data-binary @"$W/kafka.txt" "$PG/metrics/job/flinkpgw0123456789abcdef0123456789abcdef/k1/v1/k2/v2" >/dev/null
# A Kafka-shaped TaskManager push with pendingRecords (fixtures/flink-signals, every placeholder
# 1), so the source-lag signal series exist; then wait (bounded) for two evaluations (the lag
# trend needs two) to show them.
cat fixtures/flink-signals/tm-kafka.txt fixtures/flink-signals/tm-kafka-pending.txt |
  sed -E 's/\$\{[a-z_]+\}/1/g' >"$W/signals.txt"
curl -sf -X PUT --data-binary @"$W/signals.txt" "$PG/metrics/job/flinkpgw00000000000000000000000000000001/k1/v1/k2/v2" >/dev/null
for _ in $(seq 100); do
  curl -sf "$PG/metrics" | grep -q '^pushgate_flink_source_lag_growth_rate{' && break
  sleep 0.1
done
curl -sf "$PG/metrics/aggregated" | names >>"$W/known"
python3 - src/telemetry.rs >>"$W/known" <<'PY'
import re, sys
src = open(sys.argv[1], encoding="utf-8").read()
table = src[src.index("pub const BUILTIN_FAMILIES"):]
table = table[:table.index("];")]
families = re.findall(r'\(\s*"(\w+)",\s*MetricType::(\w+),?\s*\)', table)
if len(families) < 10:
    sys.exit(f"only {len(families)} families found in BUILTIN_FAMILIES of {sys.argv[1]}")
for name, kind in families:
    print(name)
    if kind in ("Summary", "Histogram"):
        print(name + "_sum")
        print(name + "_count")
PY
printf '%s\n' up scrape_duration_seconds scrape_samples_scraped scrape_samples_post_metric_relabeling \
  scrape_series_added >>"$W/known"
sort -u -o "$W/known" "$W/known"
echo "known metric names: $(wc -l <"$W/known")"
if grep -qx flink_job_kafka_records_lag_max "$W/known" && grep -qx pushgate_groups_expired_total "$W/known"; then
  pass "the known names include the Kafka-lag rollup and pushgate's expiry counter"
else
  fail "the known names lack flink_job_kafka_records_lag_max or pushgate_groups_expired_total"
fi

# --- the Flink alert rules (deploy/prometheus/flink-alerts.yml): valid, unit-tested, over served names
if promtool check rules deploy/prometheus/flink-alerts.yml; then
  pass "promtool check rules accepts deploy/prometheus/flink-alerts.yml"
else
  fail "promtool check rules refused deploy/prometheus/flink-alerts.yml"
fi
if (cd deploy/prometheus && promtool test rules flink-alerts.test.yml); then
  pass "promtool test rules: deploy/prometheus/flink-alerts.test.yml"
else
  fail "promtool test rules: deploy/prometheus/flink-alerts.test.yml"
fi
unknown=$(grep -oE '\b(pushgate_flink_[a-z0-9_]+|push_(failure_)?time_seconds)\b' deploy/prometheus/flink-alerts.yml |
  sort -u | grep -vxF -f "$W/known" || true)
if [ -z "$unknown" ]; then
  pass "every metric name in flink-alerts.yml is one pushgate serves"
else
  fail "flink-alerts.yml names metrics pushgate does not serve: $unknown"
fi

# --- the dashboard is the generator's output
if python3 - "$DASH" <<'PY'; then pass "$DASH is what build_dashboard.py generates"; else fail "$DASH differs from build_dashboard.py's output (run python3 deploy/grafana/build_dashboard.py)"; fi
import json, sys
sys.path.insert(0, "deploy/grafana")
import build_dashboard
sys.exit(json.load(open(sys.argv[1], encoding="utf-8")) != build_dashboard.dashboard())
PY

# --- the dashboard's queries
if python3 tests/e2e/dashboard_check.py "$DASH" "$W/known" "$W/rules.yml"; then
  pass "every panel has exprs on \${DS_PROMETHEUS}, over metric names pushgate serves"
else
  fail "the dashboard's panels and queries (above)"
fi
if promtool check rules "$W/rules.yml"; then
  pass "promtool check rules accepts one recording rule per expr ($(grep -c '"record"' "$W/rules.yml") rules)"
else
  fail "promtool check rules refused the dashboard's exprs"
fi
if python3 - "$DASH" <<'PY'; then pass "variables job, job_name and task_name are multi-value with All"; else fail "variables"; fi
import json, sys
v = {x["name"]: x for x in json.load(open(sys.argv[1]))["templating"]["list"]}
for name in ("job", "job_name", "task_name"):
    assert v[name]["type"] == "query" and v[name]["multi"] and v[name]["includeAll"], name
PY

# --- every query answers on a real Prometheus scraping that pushgate (variables on "All"),
#     except the panels whose data the fixtures cannot produce
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary 'bad{' "$PG/metrics/job/broken")
[ "$code" = 400 ] || fail "a malformed push (for pushgate_pushes_rejected_total) answered $code, not 400"
write_prometheus_config "$W/prom" aggregated
start_prometheus "$W/prom"
python3 tests/e2e/dashboard_check.py "$DASH" "$W/known" "$W/rules-all.yml" all >/dev/null
# rate() and increase() need two samples in their 1m window: 4 scrapes. Should they not come,
# the queries below say which return no data.
wait_scrapes pushgate-aggregated 4 || true
# Expected empty: no group expired, and the captured job has no event time (the lag is -1).
EMPTY_OK='.*(pushgate_groups_expired_total|currentEmitEventTimeLag).*'
if python3 - "$PROM" "$W/rules-all.yml" "$EMPTY_OK" <<'PY'; then pass "every other query returns data from Prometheus"; else fail "queries without data (above)"; fi
import json, re, sys, urllib.parse, urllib.request
prom, rules, empty_ok = sys.argv[1], json.load(open(sys.argv[2]))["groups"][0]["rules"], sys.argv[3]
def query(expr):
    url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    return json.load(urllib.request.urlopen(url, timeout=10))["data"]["result"]
empty = [x for x in rules if not query(x["expr"])]
for x in empty:
    print(("expected empty: " if re.fullmatch(empty_ok, x["expr"]) else "NO DATA: ") + f'{x["record"]}: {x["expr"]}')
print(f"{len(rules) - len(empty)} of {len(rules)} queries return data")
sys.exit(any(not re.fullmatch(empty_ok, x["expr"]) for x in empty))
PY

# --- the checker refuses broken dashboards
broken() { # NAME PYTHON-STATEMENT EXPECTED-TEXT: mutate d (the dashboard) and expect a refusal
  python3 - "$DASH" "$W/$1.json" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
panels = [p for p in d["panels"] if p["type"] != "row"]
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"))
PY
  local out rc=0
  out=$(python3 tests/e2e/dashboard_check.py "$W/$1.json" "$W/known" "$W/$1.rules.yml" 2>&1) || rc=$?
  if [ "$rc" = 0 ]; then
    out=$(promtool check rules "$W/$1.rules.yml" 2>&1) && rc=0 || rc=$?
  fi
  if [ "$rc" != 0 ] && grep -qF -- "$3" <<<"$out"; then
    pass "refused: $1 ($3)"
  else
    fail "not refused as expected: $1 (wanted \"$3\"; exit $rc): $out"
  fi
}
broken empty-expr 'panels[3]["targets"][0]["expr"] = ""' "target A: no expr"
broken no-targets 'panels[5]["targets"] = []' "no targets"
broken unknown-metric 'panels[0]["targets"][0]["expr"] = "sum(flink_jobmanager_numRunningJob)"' \
  "metric 'flink_jobmanager_numRunningJob' is not served"
broken nameless-selector 'panels[0]["targets"][0]["expr"] = "count({job=\"x\"})"' "without a metric name"
broken unknown-variable 'panels[0]["targets"][0]["expr"] = "up{job=~\"$cluster\"}"' "unknown variable \$cluster"
broken bad-promql 'panels[0]["targets"][0]["expr"] = "sum(rate(up[$__rate_interval])"' "unclosed left parenthesis"
broken other-datasource 'panels[2]["datasource"] = {"type": "prometheus", "uid": "abc"}' "data source is not"

echo "grafana-dashboard: $passed passed, $failed failed"
[ "$failed" = 0 ]
