#!/usr/bin/env bash
# Headless Chromium end-to-end test of the web UI: a release pushgate under
# --web.route-prefix=/pg holds the real Flink fixtures (a JobManager and two TaskManagers), a
# batch group and an XSS-shaped label value; Chromium (driven by Selenium) checks the groups
# page, the Flink view, inline metrics, the two-click delete (gone from the page, the API and
# the scrape), the status page, and that pages stay bounded in bytes with ~500k series stored.
# Details: tests/e2e/ui/check_ui.py.
#
# Installs what it needs, idempotently: Debian's chromium and chromium-driver (apt-get, skipped
# when present) and Selenium from PyPI into a cached venv ($PUSHGATE_E2E_CACHE/ui-venv, default
# ~/.cache/pushgate-e2e; skipped when it imports). Selenium is pointed at /usr/bin/chromedriver
# and /usr/bin/chromium, so it downloads no browser or driver of its own.
# Environment: PUSHGATE_BIN uses this pushgate binary instead of `cargo build --release`.
# Screenshots: target/ui-screenshot.png (the groups page just after a delete), and
# target/ui-screenshot-{metrics,flink,status,health}.png (health: the Flink health panel of a
# back-pressured Kafka-shaped job from fixtures/flink-signals).
# Prints `ui-e2e: N passed, M failed` last. Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE=${PUSHGATE_E2E_CACHE:-$HOME/.cache/pushgate-e2e}

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  echo "ui-e2e: installing ${missing[*]} (apt-get)"
  SUDO=
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

VENV=$CACHE/ui-venv
if ! "$VENV/bin/python" -c 'import selenium' 2>/dev/null; then
  echo "ui-e2e: installing selenium into $VENV (pip)"
  mkdir -p "$CACHE"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check 'selenium>=4.11,<5'
fi

BIN=${PUSHGATE_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release --quiet -p pushgate
  BIN=$ROOT/target/release/pushgate
fi

# Selenium must use the Debian driver and browser, never fetch its own.
export SE_OFFLINE=true
exec "$VENV/bin/python" tests/e2e/ui/check_ui.py --bin "$BIN" --screenshot "$ROOT/target/ui-screenshot.png"
