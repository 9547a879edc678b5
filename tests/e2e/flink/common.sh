# shellcheck shell=bash
# Shared parts of the real-Flink end-to-end scripts (tests/e2e/flink.sh, flink_signals.sh):
# assertion and polling helpers, installing a JDK, Flink from PyPI (cached) assembled into a
# FLINK_HOME, its configuration (loopback only, free ports, the pushgate reporter), building a
# job jar, starting the standalone cluster and stopping it (only the processes in our own pid
# files).
# The caller sets: E2E_NAME (prefix of every line), ROOT, HERE (this directory), VER, CACHE,
# T0=$SECONDS, passed/failed/skipped=0, and WORK (its temp directory, with log/ and pid/) before
# calling flink_home. This file owns no assertion about pushgate and starts nothing by itself.

say() { printf '%s: [%3ds] %s\n' "$E2E_NAME" $((SECONDS - T0)) "$*"; }
pass() { passed=$((passed + 1)); say "PASS $*"; }
fail() { failed=$((failed + 1)); say "FAIL $*"; }
skip() { skipped=$((skipped + 1)); say "SKIP $*"; }
die() { fail "$*"; exit 1; }
check() { # check DESCRIPTION COMMAND...: one assertion
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
# poll SECONDS COMMAND...: runs COMMAND about once a second until it succeeds; bounded.
poll() {
  local end=$((SECONDS + $1))
  shift
  while :; do
    "$@" && return 0
    [ "$SECONDS" -ge "$end" ] && return 1
    sleep 1
  done
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
yaml_str() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"; }
promq() { python3 "$HERE/promq.py" "$@"; }
# unzip_some ZIP DEST PREFIX...: extracts the members under the prefixes (no unzip needed).
unzip_some() {
  python3 - "$@" <<'PY'
import sys, zipfile
zip_path, dest, prefixes = sys.argv[1], sys.argv[2], tuple(sys.argv[3:])
with zipfile.ZipFile(zip_path) as z:
    members = [m for m in z.namelist() if m.startswith(prefixes)]
    if not members:
        sys.exit("%s has nothing under %s" % (zip_path, ", ".join(prefixes)))
    z.extractall(dest, members)
PY
}

flink_pids() { cat "$WORK"/pid/*.pid 2>/dev/null || true; }
ours() { [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$WORK/"; }

# flink_stop_cluster: stops the cluster if one of our processes runs (stop-cluster.sh sends the
# reporters' DELETEs), then kills what is left of ours.
flink_stop_cluster() {
  local p
  [ -n "${WORK:-}" ] || return 0
  for p in $(flink_pids); do
    if ours "$p"; then
      say "cleanup: stopping the Flink cluster"
      timeout 60 "$FH/bin/stop-cluster.sh" >>"$WORK/stop-cluster.log" 2>&1
      break
    fi
  done
  for p in $(flink_pids); do ours "$p" && kill -9 "$p" 2>/dev/null; done
}

# flink_need_tools: a JDK (Debian's, when missing and root) and the other tools.
# flink_start_pushgate [FLAG...]: $PUSHGATE_BIN, or a release build, on a free loopback port
# with FLAG..., logging to $WORK/pushgate.log; sets BIN, PG_PORT, PG and PG_PID, waits until ready.
flink_start_pushgate() {
  if [ -n "${PUSHGATE_BIN:-}" ]; then
    BIN=$PUSHGATE_BIN
  else
    say "cargo build --release"
    cargo build --release --quiet --bin pushgate || die "setup: cargo build --release"
    BIN=$ROOT/target/release/pushgate
  fi
  PG_PORT=$(free_port)
  PG=http://127.0.0.1:$PG_PORT
  "$BIN" --web.listen-address="127.0.0.1:$PG_PORT" "$@" >"$WORK/pushgate.log" 2>&1 &
  PG_PID=$!
  poll 20 curl -sf --max-time 2 -o /dev/null "$PG/-/ready" || die "setup: pushgate did not become ready"
}

flink_need_tools() {
  if ! command -v javac >/dev/null || ! command -v jar >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
      say "installing a JDK (openjdk-17-jdk-headless) from Debian"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
    fi
  fi
  for tool in java javac jar python3 curl tar; do
    command -v "$tool" >/dev/null || die "setup: $tool is not installed"
  done
  [ -n "${PUSHGATE_BIN:-}" ] || command -v cargo >/dev/null || die "setup: cargo is not installed"
}

# flink_home: Flink $VER from PyPI into $CACHE (once), assembled into FH=$WORK/flink; sets DIST.
# The downloads: apache-flink-libraries (lib/, plugins/; a wheel in 2.x, an sdist with deps/ in
# 1.x) and apache-flink (bin/, conf/; any wheel will do, they are the same).
flink_home() {
  DL=$CACHE/flink-$VER
  find_downloads() {
    LIBS=$(ls "$DL"/apache_flink_libraries-"$VER"-*.whl "$DL"/apache-flink-libraries-"$VER".tar.gz 2>/dev/null | head -n 1)
    APP=$(ls "$DL"/apache_flink-"$VER"-*.whl 2>/dev/null | head -n 1)
  }
  find_downloads
  if [ -z "$LIBS" ] || [ -z "$APP" ]; then
    say "downloading Flink $VER from PyPI into $DL"
    mkdir -p "$CACHE"
    tmp=$(mktemp -d "$CACHE/.download.XXXXXX")
    pip=(python3 -m pip download --no-deps --disable-pip-version-check -q -d "$tmp")
    "${pip[@]}" "apache-flink-libraries==$VER" ||
      { rm -rf "$tmp"; die "setup: pip download apache-flink-libraries==$VER"; }
    "${pip[@]}" --only-binary=:all: "apache-flink==$VER" ||
      "${pip[@]}" --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
        --platform manylinux2014_x86_64 "apache-flink==$VER" ||
      { rm -rf "$tmp"; die "setup: pip download apache-flink==$VER"; }
    mkdir -p "$DL"
    mv "$tmp"/* "$DL"/ && rmdir "$tmp"
    find_downloads
    [ -n "$LIBS" ] && [ -n "$APP" ] || die "setup: the downloads of Flink $VER are not where expected"
  else
    say "Flink $VER from the cache ($DL)"
  fi

  FH=$WORK/flink
  mkdir -p "$WORK/unpack"
  unzip_some "$APP" "$WORK/unpack" pyflink/bin/ pyflink/conf/ || die "setup: unzip $APP"
  case "$LIBS" in
    *.whl)
      unzip_some "$LIBS" "$WORK/unpack" pyflink/bin/ pyflink/lib/ pyflink/plugins/metrics-prometheus/ ||
        die "setup: unzip $LIBS"
      ;;
    *.tar.gz)
      tar xzf "$LIBS" -C "$WORK/unpack" --wildcards '*/deps/bin/*' '*/deps/lib/*' \
        '*/deps/plugins/metrics-prometheus/*' || die "setup: untar $LIBS"
      deps=$WORK/unpack/apache-flink-libraries-$VER/deps
      cp -r "$deps/bin/." "$WORK/unpack/pyflink/bin/"
      mv "$deps/lib" "$deps/plugins" "$WORK/unpack/pyflink/"
      ;;
  esac
  mv "$WORK/unpack/pyflink" "$FH" && rm -rf "$WORK/unpack"
  chmod +x "$FH"/bin/*.sh "$FH/bin/flink"
  DIST=$(ls "$FH"/lib/flink-dist*.jar 2>/dev/null | head -n 1)
  [ -f "$DIST" ] && [ -d "$FH/plugins/metrics-prometheus" ] || die "setup: FLINK_HOME is incomplete"
}

# flink_configure PUSHGATE_URL JOB_NAME GROUPING INTERVAL_S SLOTS <EXTRA_YAML: writes
# $FH/conf/config.yaml (flat keys; extra keys from stdin) and sets REST; exports the log and pid
# directories.
flink_configure() {
  local pg=$1 job=$2 grouping=$3 interval=$4 slots=$5 java_opts extra
  extra=$(cat)
  mv "$FH/conf/config.yaml" "$FH/conf/config.yaml.orig"
  java_opts=$(grep -oE -- '--add-(exports|opens)=[^ ]+' "$FH/conf/config.yaml.orig" | tr '\n' ' ')
  cat >"$FH/conf/config.yaml" <<CFG
env.java.opts.all: $java_opts
jobmanager.bind-host: 127.0.0.1
jobmanager.rpc.address: 127.0.0.1
jobmanager.rpc.port: $(free_port)
jobmanager.memory.process.size: 1600m
jobmanager.execution.failover-strategy: region
taskmanager.bind-host: 127.0.0.1
taskmanager.host: 127.0.0.1
taskmanager.numberOfTaskSlots: $slots
taskmanager.memory.process.size: 1728m
parallelism.default: 2
rest.address: 127.0.0.1
rest.bind-address: 127.0.0.1
rest.port: $(free_port)
metrics.reporter.pgw.factory.class: org.apache.flink.metrics.prometheus.PrometheusPushGatewayReporterFactory
metrics.reporter.pgw.hostUrl: $pg
metrics.reporter.pgw.jobName: $job
metrics.reporter.pgw.randomJobNameSuffix: true
metrics.reporter.pgw.deleteOnShutdown: true
metrics.reporter.pgw.groupingKey: $(yaml_str "$grouping")
metrics.reporter.pgw.interval: $interval SECONDS
$extra
CFG
  REST=http://127.0.0.1:$(sed -n 's/^rest.port: //p' "$FH/conf/config.yaml")
  export FLINK_LOG_DIR=$WORK/log FLINK_PID_DIR=$WORK/pid
  unset FLINK_CONF_DIR FLINK_ENV_JAVA_OPTS HADOOP_CLASSPATH
}

# flink_build_jar JAVA_FILE...: compiles against flink-dist into JAR=$WORK/job.jar.
flink_build_jar() {
  mkdir -p "$WORK/classes"
  javac -nowarn -d "$WORK/classes" -cp "$DIST" "$@" >"$WORK/javac.log" 2>&1 ||
    { cat "$WORK/javac.log"; die "setup: javac $*"; }
  JAR=$WORK/job.jar
  (cd "$WORK/classes" && jar cf "$JAR" ./*.class) || die "setup: jar"
}

# flink_start_cluster SLOTS: start-cluster.sh, then waits (bounded) for a TaskManager with SLOTS
# slots; sets JM_PID and TM_PID.
flink_start_cluster() {
  local slots=$1
  say "starting Flink $VER (JobManager REST on $REST)"
  "$FH/bin/start-cluster.sh" >"$WORK/start-cluster.log" 2>&1 || { cat "$WORK/start-cluster.log"; die "setup: start-cluster.sh"; }
  cluster_ready() { curl -sf --max-time 3 "$REST/overview" | grep -qE "\"slots-total\":$slots([,}])"; }
  poll 180 cluster_ready || die "setup: the cluster has no TaskManager with $slots slots after 180 s"
  TM_PID=$(tail -n 1 "$WORK"/pid/flink-*-taskexecutor.pid 2>/dev/null)
  JM_PID=$(tail -n 1 "$WORK"/pid/flink-*-standalonesession.pid 2>/dev/null)
  { [ -n "$TM_PID" ] && ours "$TM_PID" && [ -n "$JM_PID" ] && ours "$JM_PID"; } ||
    die "setup: no JobManager/TaskManager pid in $WORK/pid"
  say "cluster up: JobManager pid $JM_PID, TaskManager pid $TM_PID"
}
