#!/usr/bin/env python3
"""Writes pushgate-flink.json, the Grafana dashboard for Flink metrics through pushgate.

The dashboard is generated so that layout (grid positions, ids) and the panel boilerplate stay
consistent; edit the PANELS table below, run `python3 deploy/grafana/build_dashboard.py`, and
commit both files (tests/e2e/grafana_dashboard.sh checks that they agree and that every query
is valid PromQL over metric names pushgate really serves).

Metric names are those pushgate exposes for Flink's PrometheusPushGatewayReporter: Flink's
`flink_<scope>_<metric>` names, with the job's pushed `job` label (the reporter's jobName, its
random suffix split off into `flink_prometheus_push_gateway_reporter_id`), and the rollups of
`GET /metrics/aggregated` (src/aggregate.rs) where one fits: Prometheus is expected to scrape
both endpoints with `honor_labels: true` (see deploy/compose/prometheus.yml).

Standard library only.
"""
import json
import os

DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
F = 'job=~"$job", job_name=~"$job_name"'  # a Flink job's series
T = F + ', task_name=~"$task_name"'  # ... of the selected tasks
PG = 'instance=~"$pushgate"'  # pushgate's own series

# (row title, [panels]); a panel is (type, title, width, unit, description, [(expr, legend)]).
PANELS = [
    ("Overview", [
        ("stat", "Running jobs", 4, "short", "flink_jobmanager_numRunningJobs per JobManager.",
         [('sum by (job) (flink_jobmanager_numRunningJobs{job=~"$job"})', "{{job}}")]),
        ("stat", "TaskManagers", 4, "short", "TaskManagers registered at the JobManager.",
         [('sum by (job) (flink_jobmanager_numRegisteredTaskManagers{job=~"$job"})', "{{job}}")]),
        ("stat", "Free task slots", 4, "short", "Available of total task slots.",
         [('sum by (job) (flink_jobmanager_taskSlotsAvailable{job=~"$job"})', "{{job}} free"),
          ('sum by (job) (flink_jobmanager_taskSlotsTotal{job=~"$job"})', "{{job}} total")]),
        ("stat", "Restarts", 4, "short", "Restarts of each Flink job since it was submitted.",
         [(f"max by (job_name) (flink_jobmanager_job_numRestarts{{{F}}})", "{{job_name}}")]),
        ("stat", "Job uptime", 4, "ms", "Time since each Flink job last started running.",
         [(f"max by (job_name) (flink_jobmanager_job_uptime{{{F}}})", "{{job_name}}")]),
        ("stat", "Reporters pushing", 4, "short",
         "Flink reporter processes (JobManager and TaskManagers) with a group in pushgate: one "
         "flink_prometheus_push_gateway_reporter_id each.",
         [('count by (job) (push_time_seconds{job=~"$job"})', "{{job}}")]),
    ]),
    ("Health signals (pushgate)", [
        ("timeseries", "Back-pressure level by vertex", 8, "short",
         "pushgate_flink_vertex_backpressure_level: Flink's level of the worst subtask's "
         "back-pressured share of time (0 OK <= 10 %, 1 LOW <= 50 %, 2 HIGH above).",
         [(f"max by (job_name, task_name) (pushgate_flink_vertex_backpressure_level{{{T}}})",
           "{{job_name}} / {{task_name}}")]),
        ("timeseries", "Busy ratio by vertex (worst subtask)", 8, "percentunit",
         "pushgate_flink_vertex_busy_ratio: busy share of time from Flink's accumulateBusyTimeMs "
         "counters between pushes (free of the start-up busy=1000 artefact).",
         [(f"max by (job_name, task_name) (pushgate_flink_vertex_busy_ratio{{{T}}})",
           "{{job_name}} / {{task_name}}")]),
        ("stat", "Bottleneck (1 = this vertex)", 8, "short",
         "pushgate_flink_vertex_bottleneck: while a job is back-pressured, the busiest vertex that "
         "is not back-pressured itself (stable across evaluations).",
         [(f"max by (job_name, task_name) (pushgate_flink_vertex_bottleneck{{{T}}})",
           "{{job_name}} / {{task_name}}")]),
        ("timeseries", "Suggested vs current parallelism", 12, "short",
         "pushgate_flink_vertex_suggested_parallelism: the Flink autoscaler's formula (target "
         "utilisation 0.7, key-group alignment) beside the subtasks pushing now.",
         [(f"max by (job_name, task_name) (pushgate_flink_vertex_suggested_parallelism{{{T}}})",
           "suggested {{task_name}}"),
          (f"max by (job_name, task_name) (pushgate_flink_vertex_parallelism{{{T}}})",
           "current {{task_name}}")]),
        ("timeseries", "Source lag (seconds)", 12, "s",
         "pushgate_flink_source_lag_seconds: sum of pendingRecords over the source's subtasks / "
         "the records it reads per second. No line = the source does not report pendingRecords.",
         [(f"max by (job_name, task_name) (pushgate_flink_source_lag_seconds{{{T}}})",
           "{{job_name}} / {{task_name}}")]),
        ("timeseries", "Task slot utilisation", 8, "percentunit",
         "pushgate_flink_cluster_slot_utilization: used / total task slots; below 20 % the "
         "cluster is under-used.",
         [('max by (job) (pushgate_flink_cluster_slot_utilization{job=~"$job"})', "{{job}}")]),
        ("timeseries", "Checkpoint age", 8, "s",
         "pushgate_flink_job_checkpoint_age_seconds: time since the last completed checkpoint.",
         [(f"max by (job_name) (pushgate_flink_job_checkpoint_age_seconds{{{F}}})", "{{job_name}}")]),
        ("timeseries", "TaskManager heap and GC", 8, "percentunit",
         "pushgate_flink_taskmanager_heap_ratio (heap used / max) and "
         "pushgate_flink_taskmanager_gc_ratio (share of time in GC) per TaskManager.",
         [('max by (tm_id) (pushgate_flink_taskmanager_heap_ratio{job=~"$job"})', "heap {{tm_id}}"),
          ('max by (tm_id) (pushgate_flink_taskmanager_gc_ratio{job=~"$job"})', "GC {{tm_id}}")]),
    ]),
    ("Throughput", [
        ("timeseries", "Records in per second, by operator", 12, "cps",
         "pushgate rollup flink_job_operator_records_in_per_second: Flink's numRecordsInPerSecond "
         "summed over subtasks.",
         [(f"sum by (job_name, operator_name) (flink_job_operator_records_in_per_second{{{F}}})",
           "{{job_name}} / {{operator_name}}")]),
        ("timeseries", "Records out per second, by operator", 12, "cps",
         "pushgate rollup flink_job_operator_records_out_per_second: Flink's numRecordsOutPerSecond "
         "summed over subtasks.",
         [(f"sum by (job_name, operator_name) (flink_job_operator_records_out_per_second{{{F}}})",
           "{{job_name}} / {{operator_name}}")]),
        ("timeseries", "Bytes in / out per second, by task", 12, "Bps",
         "numBytesInPerSecond and numBytesOutPerSecond summed over subtasks.",
         [(f"sum by (job_name, task_name) (flink_taskmanager_job_task_numBytesInPerSecond{{{T}}})",
           "in {{task_name}}"),
          (f"sum by (job_name, task_name) (flink_taskmanager_job_task_numBytesOutPerSecond{{{T}}})",
           "out {{task_name}}")]),
        ("timeseries", "Records in per second, by subtask", 12, "cps",
         "Per-subtask input rate of the selected tasks: a skewed key shows as one high line.",
         [(f"sum by (task_name, subtask_index) (flink_taskmanager_job_task_numRecordsInPerSecond{{{T}}})",
           "{{task_name}} #{{subtask_index}}")]),
    ]),
    ("Back-pressure", [
        ("timeseries", "Busy time (worst subtask)", 8, "percent",
         "pushgate rollup flink_job_task_busy_time_ms_per_second_max (busyTimeMsPerSecond, max over "
         "subtasks), as a percentage of time. 100% = the task is the bottleneck.",
         [(f"max by (job_name, task_name) (flink_job_task_busy_time_ms_per_second_max{{{T}}}) / 10",
           "{{task_name}}")]),
        ("timeseries", "Back-pressured time (worst subtask)", 8, "percent",
         "pushgate rollup flink_job_task_back_pressured_time_ms_per_second_max: time a task waited "
         "for output buffers. High here and low busy time downstream points at the bottleneck.",
         [(f"max by (job_name, task_name) (flink_job_task_back_pressured_time_ms_per_second_max{{{T}}}) / 10",
           "{{task_name}}")]),
        ("timeseries", "Output buffer usage (worst subtask)", 8, "percentunit",
         "buffers.outPoolUsage: full output buffers are back-pressure from downstream.",
         [(f"max by (job_name, task_name) (flink_taskmanager_job_task_buffers_outPoolUsage{{{T}}})",
           "out {{task_name}}"),
          (f"max by (job_name, task_name) (flink_taskmanager_job_task_buffers_inPoolUsage{{{T}}})",
           "in {{task_name}}")]),
        ("timeseries", "Back-pressured subtasks", 12, "short",
         "Subtasks whose isBackPressured gauge is 1.",
         [(f"sum by (job_name, task_name) (flink_taskmanager_job_task_isBackPressured{{{T}}})",
           "{{task_name}}")]),
        ("timeseries", "Idle time (average over subtasks)", 12, "percent",
         "idleTimeMsPerSecond as a percentage: a task that is mostly idle waits for input.",
         [(f"avg by (job_name, task_name) (flink_taskmanager_job_task_idleTimeMsPerSecond{{{T}}}) / 10",
           "{{task_name}}")]),
    ]),
    ("Latency", [
        ("timeseries", "Latency markers (worst source to operator)", 8, "ms",
         "pushgate rollup flink_job_latency_max: the worst latency-marker quantile per job. Needs "
         "metrics.latency.interval > 0 in Flink.",
         [(f'max by (job_name, quantile) (flink_job_latency_max{{{F}, quantile=~"0.5|0.99"}})',
           "{{job_name}} p{{quantile}}")]),
        ("timeseries", "Event-time lag at sources", 8, "ms",
         "currentEmitEventTimeLag of source operators (FLIP-33); sources without event time report "
         "-1 and are left out.",
         [(f"max by (job_name, operator_name) (flink_taskmanager_job_task_operator_currentEmitEventTimeLag{{{F}}} >= 0)",
           "{{operator_name}}")]),
        ("timeseries", "Mailbox latency p99 (worst subtask)", 8, "ms",
         "Time a mail waits in a task's mailbox (mailboxLatencyMs): a slow task thread shows here.",
         [(f'max by (job_name, task_name) (flink_taskmanager_job_task_mailboxLatencyMs{{{T}, quantile="0.99"}})',
           "{{task_name}}")]),
    ]),
    ("Kafka", [
        ("timeseries", "Kafka consumer lag (records-lag-max, worst per job)", 24, "short",
         "pushgate rollup flink_job_kafka_records_lag_max: the Kafka source's "
         "KafkaConsumer.records-lag-max, max over subtasks and partitions. Empty for jobs without a "
         "Kafka source (or with register.consumer.metrics=false).",
         [(f"max by (job_name) (flink_job_kafka_records_lag_max{{{F}}})", "{{job_name}}")]),
    ]),
    ("Checkpoints", [
        ("timeseries", "Last checkpoint duration", 8, "ms", "lastCheckpointDuration per job.",
         [(f"max by (job_name) (flink_jobmanager_job_lastCheckpointDuration{{{F}}})", "{{job_name}}")]),
        ("timeseries", "Last checkpoint size", 8, "bytes",
         "lastCheckpointSize (incremental) and lastCheckpointFullSize per job.",
         [(f"max by (job_name) (flink_jobmanager_job_lastCheckpointSize{{{F}}})", "{{job_name}} size"),
          (f"max by (job_name) (flink_jobmanager_job_lastCheckpointFullSize{{{F}}})", "{{job_name}} full")]),
        ("timeseries", "Checkpoints completed / failed", 8, "short",
         "New completed and failed checkpoints per interval (numberOfCompletedCheckpoints and "
         "numberOfFailedCheckpoints are counts that Flink exports as gauges).",
         [(f"max by (job_name) (increase(flink_jobmanager_job_numberOfCompletedCheckpoints{{{F}}}[$__rate_interval]))",
           "{{job_name}} completed"),
          (f"max by (job_name) (increase(flink_jobmanager_job_numberOfFailedCheckpoints{{{F}}}[$__rate_interval]))",
           "{{job_name}} failed")]),
        ("stat", "Failed checkpoints (total)", 8, "short",
         "numberOfFailedCheckpoints since the job started.",
         [(f"max by (job_name) (flink_jobmanager_job_numberOfFailedCheckpoints{{{F}}})", "{{job_name}}")]),
        ("timeseries", "Checkpoint alignment time (worst subtask)", 8, "ns",
         "checkpointAlignmentTime: time spent aligning barriers in the last checkpoint.",
         [(f"max by (job_name, task_name) (flink_taskmanager_job_task_checkpointAlignmentTime{{{T}}})",
           "{{task_name}}")]),
        ("timeseries", "Checkpoint start delay (worst subtask)", 8, "ns",
         "checkpointStartDelayNanos: time for the barrier to reach the task; grows with back-pressure.",
         [(f"max by (job_name, task_name) (flink_taskmanager_job_task_checkpointStartDelayNanos{{{T}}})",
           "{{task_name}}")]),
    ]),
    ("JVM", [
        ("timeseries", "Heap used", 8, "bytes", "JVM heap used per process, and the TaskManagers' heap maximum.",
         [('flink_jobmanager_Status_JVM_Memory_Heap_Used{job=~"$job"}', "JM {{host}}"),
          ('flink_taskmanager_Status_JVM_Memory_Heap_Used{job=~"$job"}', "TM {{tm_id}}"),
          ('max by (job) (flink_taskmanager_Status_JVM_Memory_Heap_Max{job=~"$job"})', "TM max")]),
        ("timeseries", "GC time", 8, "ms",
         "GarbageCollector.All.TimeMsPerSecond: milliseconds per second spent in GC.",
         [('flink_jobmanager_Status_JVM_GarbageCollector_All_TimeMsPerSecond{job=~"$job"}', "JM {{host}}"),
          ('flink_taskmanager_Status_JVM_GarbageCollector_All_TimeMsPerSecond{job=~"$job"}', "TM {{tm_id}}")]),
        ("timeseries", "CPU load", 8, "percentunit", "Status.JVM.CPU.Load of each JVM.",
         [('flink_jobmanager_Status_JVM_CPU_Load{job=~"$job"}', "JM {{host}}"),
          ('flink_taskmanager_Status_JVM_CPU_Load{job=~"$job"}', "TM {{tm_id}}")]),
        ("timeseries", "Managed memory used", 12, "bytes", "Flink managed memory (state backends, sorting).",
         [('flink_taskmanager_Status_Flink_Memory_Managed_Used{job=~"$job"}', "{{tm_id}}")]),
        ("timeseries", "Threads", 12, "short", "Live JVM threads.",
         [('flink_jobmanager_Status_JVM_Threads_Count{job=~"$job"}', "JM {{host}}"),
          ('flink_taskmanager_Status_JVM_Threads_Count{job=~"$job"}', "TM {{tm_id}}")]),
    ]),
    ("pushgate", [
        ("timeseries", "Pushes per second", 8, "reqps",
         "Requests to the push endpoints by method and status code.",
         [(f"sum by (method, code) (rate(pushgateway_http_requests_total{{{PG}, handler=\"push\"}}[$__rate_interval]))",
           "{{method}} {{code}}")]),
        ("timeseries", "Push failures", 8, "reqps",
         "Refused pushes by reason (pushgate_pushes_rejected_total), and PUTs swallowed after a Flink "
         "reporter's DELETE (pushgate_pushes_after_delete_total).",
         [(f"sum by (reason) (rate(pushgate_pushes_rejected_total{{{PG}}}[$__rate_interval]))", "{{reason}}"),
          (f"sum (rate(pushgate_pushes_after_delete_total{{{PG}}}[$__rate_interval]))", "after delete")]),
        ("timeseries", "Group expiries", 8, "short",
         "Groups removed by expiry: missed_pushes (a Flink reporter stopped pushing, e.g. a killed "
         "TaskManager) or ttl (--push.group-ttl).",
         [(f"sum by (reason) (increase(pushgate_groups_expired_total{{{PG}}}[$__rate_interval]))", "{{reason}}")]),
        ("timeseries", "Groups and series", 8, "short", "Groups and series in pushgate's store.",
         [(f"sum by (instance) (pushgate_groups{{{PG}}})", "groups {{instance}}"),
          (f"sum by (instance) (pushgate_series{{{PG}}})", "series {{instance}}")]),
        ("timeseries", "Scrape duration", 8, "s",
         "How long Prometheus' scrapes of pushgate take (/metrics and /metrics/aggregated), and "
         "pushgate's push handling time (90th percentile).",
         [(f"scrape_duration_seconds{{{PG}}}", "scrape {{job}}"),
          (f'max by (method) (pushgateway_http_push_duration_seconds{{{PG}, quantile="0.9"}})', "push p90 {{method}}")]),
        ("timeseries", "Seconds since last push, per reporter", 8, "s",
         "Age of each group's last successful push; a Flink reporter group that stops pushing is "
         "expired after --flink.missed-pushes intervals.",
         [('time() - push_time_seconds{job=~"$job"}',
           "{{job}} {{flink_prometheus_push_gateway_reporter_id}}")]),
        ("timeseries", "pushgate memory", 12, "bytes", "Resident memory of the pushgate process.",
         [(f"process_resident_memory_bytes{{{PG}}}", "RSS {{instance}}")]),
        ("stat", "Scrapes of pushgate succeeding", 12, "short",
         "Prometheus' `up` for each pushgate scrape job (1 = the last scrape succeeded).",
         [(f"up{{{PG}}}", "{{job}} {{instance}}")]),
    ]),
]

VARIABLES = [
    ("job", "Job (reporter jobName)", "flink_taskmanager_Status_JVM_CPU_Load", "job"),
    ("job_name", "Flink job", 'flink_taskmanager_job_task_busyTimeMsPerSecond{job=~"$job"}', "job_name"),
    ("task_name", "Task", 'flink_taskmanager_job_task_busyTimeMsPerSecond{job=~"$job", job_name=~"$job_name"}',
     "task_name"),
    ("pushgate", "pushgate instance", "pushgate_build_info", "instance"),
]


def panel(pid, kind, title, x, y, w, h, unit, description, targets):
    p = {
        "id": pid,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
            for i, (expr, legend) in enumerate(targets)
        ],
    }
    if kind == "timeseries":
        p["fieldConfig"]["defaults"]["custom"] = {"fillOpacity": 10, "showPoints": "never"}
        p["options"] = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}}
    else:
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "value", "graphMode": "area", "textMode": "auto"}
    return p


def variable(name, label, selector, label_name):
    query = f"label_values({selector}, {label_name})"
    return {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "definition": query, "query": {"query": query, "refId": f"{name}-query"},
        "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1, "hide": 0, "regex": "", "options": [],
    }


def dashboard():
    panels, pid, y = [], 1, 0
    for row_title, row in PANELS:
        panels.append({"id": pid, "type": "row", "title": row_title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        pid, y, x = pid + 1, y + 1, 0
        for kind, title, w, unit, description, targets in row:
            h = 4 if kind == "stat" and row_title == "Overview" else 8
            if x + w > 24:
                x, y = 0, y + h
            panels.append(panel(pid, kind, title, x, y, w, h, unit, description, targets))
            pid, x = pid + 1, x + w
        y += h
    datasource = {
        "name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource", "query": "prometheus",
        "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": [],
    }
    return {
        "title": "Flink through pushgate",
        "uid": "pushgate-flink",
        "description": "Apache Flink jobs reporting through pushgate (Flink's "
                       "PrometheusPushGatewayReporter), and pushgate's own health.",
        "tags": ["flink", "pushgate", "prometheus"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "timezone": "",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [datasource] + [variable(*v) for v in VARIABLES]},
        "panels": panels,
    }


if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pushgate-flink.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(dashboard(), f, indent=2)
        f.write("\n")
    print(f"wrote {out}")
