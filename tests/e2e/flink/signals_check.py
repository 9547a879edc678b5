#!/usr/bin/env python3
"""Checks one answer of pushgate's GET /api/v1/flink/jobs, for tests/e2e/flink_signals.sh.

  signals_check.py FILE JOB_ID bottleneck NAME  -> the job's bottleneck is the vertex whose
                                                  task_name contains NAME
  signals_check.py FILE JOB_ID upstream NAME    -> every other vertex is back-pressured HIGH
  signals_check.py FILE JOB_ID suggested NAME   -> NAME's suggested parallelism > its parallelism
  signals_check.py FILE JOB_ID calm             -> no bottleneck, every vertex OK
  signals_check.py ALERTS_FILE JOB_ID alert NAME -> Prometheus' /api/v1/alerts has
                                                  FlinkBackpressureHigh firing for the job with
                                                  NAME in its bottleneck annotation
  signals_check.py ALERTS_FILE JOB_ID no-alert  -> no FlinkBackpressureHigh for the job
Exit 0 when the check holds, 1 (with the reason on stderr) when not. Standard library only.
"""
import json
import sys


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def main():
    path, job_id, mode = sys.argv[1:4]
    name = sys.argv[4] if len(sys.argv) > 4 else ""
    try:
        doc = json.load(open(path, encoding="utf-8"))
    except (OSError, ValueError) as e:
        fail(f"{path}: {e}")
    if mode in ("alert", "no-alert"):
        alerts = [a for a in doc["data"]["alerts"]
                  if a["labels"].get("alertname") == "FlinkBackpressureHigh"
                  and a["labels"].get("job_id") == job_id]
        if mode == "no-alert":
            sys.exit(1 if alerts else 0)
        firing = [a for a in alerts
                  if a["state"] == "firing" and name in a["annotations"].get("bottleneck", "")]
        sys.exit(0 if firing else fail(f"no firing alert for {job_id}: {alerts}"))
    jobs = [j for j in doc["data"]["jobs"] if j["job_id"] == job_id]
    if not jobs:
        fail(f"job {job_id} not in {[j['job_id'] for j in doc['data']['jobs']]}")
    job = jobs[0]
    vertices = job["vertices"]
    summary = [(v["task_name"], v["backpressure_level"], v["busy_ratio"], v["bottleneck"],
                v["parallelism"], v["suggested_parallelism"]) for v in vertices]
    named = [v for v in vertices if name and name in v["task_name"]]
    if mode == "calm":
        ok = job["bottleneck"] is None and all(v["backpressure_level"] == "OK" for v in vertices)
        sys.exit(0 if ok and vertices else fail(f"not calm: {job['bottleneck']} {summary}"))
    if len(named) != 1:
        fail(f"no single vertex named *{name}*: {summary}")
    v = named[0]
    if mode == "bottleneck":
        ok = job["bottleneck"] is not None and job["bottleneck"]["task_id"] == v["task_id"] \
            and v["bottleneck"]
    elif mode == "upstream":
        others = [o for o in vertices if o is not v]
        ok = others and all(o["backpressure_level"] == "HIGH" for o in others)
    elif mode == "suggested":
        ok = v["suggested_parallelism"] > v["parallelism"]
    else:
        fail(f"unknown mode {mode}")
    sys.exit(0 if ok else fail(f"{mode} does not hold: bottleneck {job['bottleneck']}; {summary}"))


if __name__ == "__main__":
    main()
