"""Headless Chromium drives pushgate's web UI (run by tests/e2e/ui_chromium.sh).

Starts the given pushgate binary under --web.route-prefix=/pg on a free loopback port, pushes
the real Flink fixtures (a JobManager and two TaskManagers, job names with Flink's 32-hex
suffix) plus a plain batch group and a group whose label value is an XSS attempt, then in
Chromium:
  - the groups page lists every group with its labels and the series count the API reports,
    and the XSS value shows as text without running;
  - the Flink view lists the cluster's job with its JobManager and both TaskManagers, the job's
    operators and tasks;
  - "Metrics" opens a group's series inline (and closes them again);
  - "Delete" (click, then confirm) removes a TaskManager's group from the page, from
    /api/v1/groups and from the scrape, and it stays gone after a reload;
  - the status page shows the version and flags;
then fills the store to about 500,000 series (100 groups x 5,000) and checks that the pages
stay bounded in bytes (not time). Screenshots go to target/ui-screenshot*.png.

Prints `ui-e2e: N passed, M failed` last; exits 1 when M > 0.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PREFIX = "/pg"
JM = "/metrics/job/flinkpgw1aad809d7e0ec3094164704a63618361/k1/v1/k2/v2"
TM = "/metrics/job/flinkpgwf451c26a333bf1ebebb2cf061f1cfd74/k1/v1/k2/v2"
TM2 = "/metrics/job/flinkpgw5738eb88e44fccf530d4e63167c5c0cb/k1/v1/k2/v2"
TM2_ID = "5738eb88e44fccf530d4e63167c5c0cb"
XSS = "<img src=x onerror=\"window.__xss=1\">"
# Bounds for the 500k-series store: one groups page (50 rows) and one group view (500 series).
MAX_GROUPS_PAGE_BYTES = 200_000
MAX_GROUP_VIEW_BYTES = 400_000

passed = failed = 0


def say(msg):
    print(f"ui-e2e: {msg}", flush=True)


def check(what, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        say(f"PASS {what}")
    else:
        failed += 1
        say(f"FAIL {what} {detail}")
    return ok


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gate:
    def __init__(self, binary, port):
        self.base = f"http://127.0.0.1:{port}{PREFIX}"
        self.proc = subprocess.Popen(
            [binary, f"--web.listen-address=127.0.0.1:{port}",
             f"--web.route-prefix={PREFIX}", "--log.level=warn",
             "--flink.signals.interval=1s", "--flink.signals.hysteresis=1"],
        )
        for _ in range(100):
            try:
                if self.get("/-/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("pushgate did not become ready")

    def request(self, method, path, body=None):
        req = urllib.request.Request(self.base + path, data=body, method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get(self, path):
        return self.request("GET", path)

    def put(self, path, body):
        status, text = self.request("PUT", path, body)
        if status != 200:
            raise SystemExit(f"push to {path} answered {status}: {text[:300]!r}")

    def groups(self):
        return json.loads(self.get("/api/v1/groups")[1])["data"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def fixture(name):
    with open(os.path.join(ROOT, "fixtures", name), "rb") as f:
        return f.read()


def b64(s):
    import base64
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,1000", "--lang=en-US"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.set_page_load_timeout(60)
    return driver


def wait(driver, cond, what, timeout=15):
    try:
        return WebDriverWait(
            driver, timeout, ignored_exceptions=(StaleElementReferenceException,)
        ).until(lambda d: cond(d))
    except TimeoutException:
        check(what, False, "(timed out)")
        return None


def rows(driver):
    return driver.find_elements(By.CSS_SELECTOR, "tr.group")


def row_with(driver, text):
    # The page redraws its table after a delete; a row read mid-redraw goes stale. Read again.
    for _ in range(20):
        try:
            for r in rows(driver):
                if text in r.text:
                    return r
            return None
        except StaleElementReferenceException:
            time.sleep(0.1)
    return None


def browser_checks(driver, gate, shots):
    driver.get(gate.base + "/")
    check("page title", driver.title.startswith("Groups"), driver.title)
    api = gate.groups()
    check("API lists the 5 pushed groups", len(api) == 5, str(len(api)))
    check("page shows 5 group rows", len(rows(driver)) == 5, str(len(rows(driver))))
    body = driver.find_element(By.TAG_NAME, "body").text
    for want in ('job="flinkpgw"', 'k1="v1"', 'job="nightly_backup"', 'instance="db1"',
                 f'flink_prometheus_push_gateway_reporter_id="{TM2_ID}"', "JobManager",
                 "TaskManager"):
        check(f"page shows {want}", want in body)
    for g in api:
        rid = g["labels"].get("flink_prometheus_push_gateway_reporter_id")
        text = rid or g["labels"]["job"]
        row = row_with(driver, text)
        cell = row.find_element(By.CSS_SELECTOR, "td.series").text if row else None
        check(f"series count of {text} matches the API ({g['series']})",
              cell is not None and int(cell.replace(",", "")) == g["series"], str(cell))
    check("XSS label value is shown as text", f'who="{XSS}"' in body)
    check("XSS label value did not run",
          driver.execute_script("return window.__xss === undefined") and
          not driver.find_elements(By.CSS_SELECTOR, "td.labels img"))

    # The Flink view: the job with its JobManager and TaskManagers.
    driver.find_element(By.LINK_TEXT, "Flink").click()
    wait(driver, lambda d: "view=flink" in d.current_url, "Flink tab navigates")
    flink = driver.find_element(By.TAG_NAME, "main").text
    procs = driver.find_elements(By.CSS_SELECTOR, "tr.proc")
    roles = sorted(p.find_element(By.CSS_SELECTOR, ".role").text for p in procs)
    check("Flink view lists JobManager + 2 TaskManagers",
          roles == ["JobManager", "TaskManager", "TaskManager"], str(roles))
    for want in ("1 Flink clusters", "Job pgw_capture_job", "Source:_Seq_Source",
                 "Records in/s", "Back-pressured max", "localhost:35339_ccf434"):
        check(f"Flink view shows {want}", want in flink)
    driver.save_screenshot(shots["flink"])

    # Inline metrics of the JobManager's group.
    driver.find_element(By.LINK_TEXT, "Groups").click()
    wait(driver, lambda d: len(rows(d)) == 5, "back on the groups page")
    jm = row_with(driver, "JobManager")
    jm.find_element(By.CSS_SELECTOR, "a.metrics").click()
    shown = wait(driver, lambda d: "flink_jobmanager_numRunningJobs" in
                 " ".join(e.text for e in d.find_elements(By.CSS_SELECTOR, "tr.detail")),
                 "Metrics opens the group's series inline")
    check("Metrics opens the group's series inline", bool(shown))
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(shots["metrics"])
    jm.find_element(By.CSS_SELECTOR, "a.metrics").click()
    check("Metrics again closes them", not driver.find_elements(By.CSS_SELECTOR, "tr.detail"))

    # Delete the second TaskManager: click arms, second click deletes.
    tm2 = row_with(driver, TM2_ID)
    button = tm2.find_element(By.CSS_SELECTOR, "button.del")
    button.click()
    check("first click asks to confirm", button.text == "Confirm delete", button.text)
    button.click()
    gone = wait(driver, lambda d: row_with(d, TM2_ID) is None and len(rows(d)) == 4,
                "deleted row leaves the page")
    check("deleted row leaves the page", bool(gone))
    flash = driver.find_element(By.ID, "flash").text
    counts = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".count-groups")]
    check("group counts on the page drop to 4", counts == ["4", "4"], str(counts))
    shown = driver.find_element(By.CSS_SELECTOR, "p.count").text
    check("the shown range drops to 1-4", shown.startswith("Showing 1–4 of 4 groups"), shown)
    totals = driver.find_element(By.CSS_SELECTOR, "nav .totals").text
    want = f"4 groups · {sum(g['series'] for g in gate.groups()):,} series · 2 from Flink"
    check("nav totals follow the deletion", totals == want, f"{totals!r} != {want!r}")
    check("page confirms the deletion", "Deleted group" in flash and TM2_ID in flash, flash)
    after = gate.groups()
    check("API no longer lists the deleted group",
          len(after) == 4 and all(TM2_ID not in json.dumps(g) for g in after), str(len(after)))
    scrape = gate.get("/metrics")[1].decode()
    check("scrape no longer has the deleted group, keeps the others",
          TM2_ID not in scrape and "f451c26a333bf1ebebb2cf061f1cfd74" in scrape)
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(shots["main"])
    driver.refresh()
    check("still gone after a reload",
          len(rows(driver)) == 4 and row_with(driver, TM2_ID) is None)

    driver.get(gate.base + "/?view=status")
    status = driver.find_element(By.TAG_NAME, "main").text
    check("status page shows version and flags",
          "pushgate " in status and "web.route-prefix" in status and "/pg" in status)
    driver.save_screenshot(shots["status"])


SIGNALS_JOB_ID = "5e0a1b2c3d4e5f60718293a4b5c6d7e8"
SIGNALS_TM = "/metrics/job/orders0000000000000000000000000000abcd/team/streaming"


def signals_body():
    """A TaskManager push from fixtures/flink-signals: the Kafka source back-pressured 80 % of
    the time, the keyed window busy 95 %, 3000 records pending."""
    values = {
        "tm": "localhost:40001_ui", "sub": "0", "job_id": SIGNALS_JOB_ID, "job_name": "orders",
        "attempt_id": "77aa", "heap_used": "2.68435456E8", "src_attempt": "0", "win_attempt": "0",
        "src_acc_busy": "500.0", "src_acc_idle": "1500.0", "src_acc_bp": "8000.0",
        "src_busy": "50.0", "src_idle": "150.0", "src_bp": "800.0",
        "win_acc_busy": "9500.0", "win_acc_idle": "500.0", "win_acc_bp": "0.0",
        "win_busy": "950.0", "win_idle": "50.0", "win_bp": "0.0",
        "src_in": "0.0", "src_out": "500.0", "src_op_in": "0.0", "src_op_out": "500.0",
        "win_in": "500.0", "win_out": "0.0", "src_pending": "3000.0",
    }
    text = (fixture("flink-signals/tm-kafka.txt") + fixture("flink-signals/tm-kafka-pending.txt")).decode()
    for k, v in values.items():
        text = text.replace("${" + k + "}", v)
    assert "${" not in text, text
    return text.encode()


def rgb(driver, el, prop):
    value = driver.execute_script(f"return getComputedStyle(arguments[0]).{prop}", el)
    return tuple(int(x) for x in value[value.index("(") + 1:value.index(")")].split(",")[:3])


def health_checks(driver, gate, shots):
    """The Flink view's health panel: bottleneck and lag in words, Flink's vertex colours."""
    gate.put(SIGNALS_TM, signals_body())
    sel = f'.health[data-job-id="{SIGNALS_JOB_ID}"]'

    def shown(d):
        d.get(gate.base + "/?view=flink")
        return d.find_elements(By.CSS_SELECTOR, sel + " .bottleneck-name")
    if not wait(driver, shown, "health panel with a bottleneck appears", timeout=20):
        return
    panel = driver.find_element(By.CSS_SELECTOR, sel)
    text = panel.text
    for want in ("Health of orders", "HIGH",
                 "Bottleneck: Window_TumblingEventTimeWindows____Sink:_Print_to_Std__Out",
                 "suggested parallelism 2 (now 1)", "lag 3,000 records", "6s behind"):
        check(f"health panel says {want!r}", want in text, text)
    hot = panel.find_element(By.CSS_SELECTOR, ".vertex.bottleneck")
    fill, border = rgb(driver, hot, "backgroundColor"), rgb(driver, hot, "borderTopColor")
    check("the busy bottleneck is drawn in Flink's red (busy 95 %)",
          fill[0] > 200 and fill[2] < 130 and border[0] > 200, f"{fill} {border}")
    source = [v for v in panel.find_elements(By.CSS_SELECTOR, ".vertex")
              if "Source" in v.text][0]
    fill, border = rgb(driver, source, "backgroundColor"), rgb(driver, source, "borderTopColor")
    check("the back-pressured source is drawn grey with a dark border (80 %)",
          max(fill) - min(fill) < 40 and max(border) < 60, f"{fill} {border}")
    check("suggested beside current parallelism in each vertex",
          all("parallelism" in v.text and "suggested" in v.text
              for v in panel.find_elements(By.CSS_SELECTOR, ".vertex")))
    driver.execute_script("arguments[0].scrollIntoView()", panel)
    panel.screenshot(shots["health"])


def large_store_checks(driver, gate):
    series_per_group, groups = 5000, 100
    for g in range(groups):
        body = "".join(f'load_metric{{series="{i}",kind="synthetic"}} {i}\n'
                       for i in range(series_per_group)).encode()
        gate.put(f"/metrics/job/load/group/g{g:03d}", body)
    api = gate.groups()
    total = sum(g["series"] for g in api)
    say(f"store holds {len(api)} groups, {total} series")
    check("store holds about 500k series", total >= 500_000, str(total))
    status, page = gate.get("/")
    say(f"groups page: {len(page)} bytes")
    check(f"groups page is bounded (<{MAX_GROUPS_PAGE_BYTES} bytes) with 500k series",
          status == 200 and len(page) < MAX_GROUPS_PAGE_BYTES, str(len(page)))
    check("groups page shows 50 of all groups",
          page.count(b'<tr class="group"') == 50 and
          f'of <b class="count-groups">{len(api)}</b> groups'.encode() in page)
    path = "job@base64/" + b64("load") + "/group@base64/" + b64("g042")
    status, view = gate.get(f"/?view=group&g={path}")
    say(f"group view of a 5,000-series group: {len(view)} bytes")
    check(f"group view is capped (<{MAX_GROUP_VIEW_BYTES} bytes)",
          status == 200 and len(view) < MAX_GROUP_VIEW_BYTES and
          b"4,500 more series not shown" in view, str(len(view)))
    status, flink = gate.get("/?view=flink")
    say(f"Flink view: {len(flink)} bytes")
    check("Flink view is unaffected by the load groups",
          status == 200 and b"load_metric" not in flink and len(flink) < MAX_GROUPS_PAGE_BYTES)
    driver.get(gate.base + "/?sort=series")
    check("Chromium renders the first page of the big store",
          len(rows(driver)) == 50 and "Page 1 of 3" in driver.page_source)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--screenshot", required=True)
    args = ap.parse_args()
    stem = args.screenshot[:-4] if args.screenshot.endswith(".png") else args.screenshot
    shots = {"main": args.screenshot, "metrics": stem + "-metrics.png",
             "flink": stem + "-flink.png", "status": stem + "-status.png",
             "health": stem + "-health.png"}
    gate = Gate(args.bin, free_port())
    driver = None
    try:
        gate.put(JM, fixture("flink-2.3.0/jm.txt"))
        gate.put(TM, fixture("flink-2.3.0/tm.txt"))
        gate.put(TM2, fixture("flink-1.20.3/tm.txt"))
        gate.put("/metrics/job/nightly_backup/instance/db1", b"backup_done 1\n")
        gate.put(f"/metrics/job/xss/who@base64/{b64(XSS)}", b"m 1\n")
        driver = browser()
        browser_checks(driver, gate, shots)
        health_checks(driver, gate, shots)
        large_store_checks(driver, gate)
    finally:
        if driver is not None:
            driver.quit()
        gate.stop()
    for name, path in shots.items():
        if os.path.exists(path):
            say(f"screenshot ({name}): {os.path.abspath(path)}")
    print(f"ui-e2e: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
