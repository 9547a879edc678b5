// pushgate web UI: relative ages, inline group metrics, the delete button, and the colours of
// the Flink health panel.
// No framework and no build step; every URL is relative to the page (<prefix>/), so the UI
// works under --web.route-prefix and behind a proxy.
(function () {
  'use strict';

  var skew = Number(document.body.dataset.now) - Date.now() / 1000;
  function now() { return Date.now() / 1000 + skew; }

  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function duration(s) {
    if (!isFinite(s)) return '–';
    if (s < 1) return Math.max(0, Math.round(s * 1000)) + 'ms';
    s = Math.floor(s);
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + pad(s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + pad(Math.floor(s % 3600 / 60)) + 'm';
    return Math.floor(s / 86400) + 'd ' + pad(Math.floor(s % 86400 / 3600)) + 'h';
  }

  function tick() {
    var t = now();
    document.querySelectorAll('[data-ts]').forEach(function (el) {
      el.textContent = duration(t - Number(el.dataset.ts)) + ' ago';
    });
    document.querySelectorAll('[data-until]').forEach(function (el) {
      var left = Number(el.dataset.until) - t;
      el.textContent = left > 0 ? 'in ' + duration(left) : 'due now';
    });
  }
  setInterval(tick, 1000);

  function flash(msg, isError) {
    var box = document.getElementById('flash');
    if (!box) return;
    var div = document.createElement('div');
    if (isError) div.className = 'error';
    div.textContent = msg;
    box.appendChild(div);
    setTimeout(function () { div.remove(); }, isError ? 10000 : 5000);
  }

  function detailOf(row) {
    var next = row.nextElementSibling;
    return next && next.classList.contains('detail') ? next : null;
  }

  function toggleMetrics(link) {
    var row = link.closest('tr');
    var open = detailOf(row);
    if (open) { open.remove(); return; }
    var detail = document.createElement('tr');
    detail.className = 'detail';
    var cell = document.createElement('td');
    cell.colSpan = row.children.length;
    cell.textContent = 'Loading…';
    detail.appendChild(cell);
    row.after(detail);
    fetch(link.getAttribute('href') + '&fragment=1', { credentials: 'same-origin' })
      .then(function (r) {
        return r.text().then(function (body) {
          if (!r.ok) throw new Error(body.trim() || r.statusText);
          // The fragment is the server's own escaped HTML, served with a strict CSP.
          cell.innerHTML = body;
        });
      })
      .catch(function (e) { cell.textContent = 'Loading the metrics failed: ' + e.message; });
  }

  // Lowers the counters in `selector` by `by` (they are written with thousands separators).
  function lower(selector, by) {
    document.querySelectorAll(selector).forEach(function (el) {
      var n = parseInt(el.textContent.replace(/,/g, ''), 10);
      if (n >= by) el.textContent = (n - by).toLocaleString('en-US');
    });
  }

  function removeGroupRows(path) {
    var series = 0, flink = false, found = false;
    document.querySelectorAll('tr.group').forEach(function (row) {
      if (row.dataset.path !== path) return;
      if (!found) {
        var cell = row.querySelector('td.series');
        series = cell ? parseInt(cell.textContent.replace(/,/g, ''), 10) || 0 : 0;
        flink = row.querySelector('.role') !== null;
        found = true;
      }
      var detail = detailOf(row);
      if (detail) detail.remove();
      row.remove();
    });
    lower('.count-groups', 1);
    lower('.count-shown', 1);
    lower('.count-series', series);
    if (flink) lower('.count-flink', 1);
  }

  function deleteGroup(button) {
    var holder = button.closest('tr[data-key]');
    var path = button.dataset.path;
    var key = holder ? holder.dataset.key : path;
    // First click arms the button; a second click within 4 s deletes.
    if (!button.classList.contains('armed')) {
      button.classList.add('armed');
      button.textContent = 'Confirm delete';
      button._disarm = setTimeout(function () {
        button.classList.remove('armed');
        button.textContent = 'Delete';
      }, 4000);
      return;
    }
    clearTimeout(button._disarm);
    button.disabled = true;
    fetch('metrics/' + path, { method: 'DELETE', credentials: 'same-origin' })
      .then(function (r) {
        if (r.status === 202 || r.ok) {
          removeGroupRows(path);
          flash('Deleted group ' + key);
          if (document.querySelector('section.group-view')) {
            setTimeout(function () { location.href = './'; }, 800);
          }
          return;
        }
        return r.text().then(function (body) {
          throw new Error(r.status + ' ' + body.trim());
        });
      })
      .catch(function (e) {
        button.disabled = false;
        button.classList.remove('armed');
        button.textContent = 'Delete';
        flash('Deleting ' + key + ' failed: ' + e.message, true);
      });
  }

  // Flink health panel: vertex colours as Flink's web UI draws them (computed by the server;
  // applied here because the Content-Security-Policy allows no inline style attributes).
  document.querySelectorAll('.vertex[data-fill]').forEach(function (el) {
    el.style.backgroundColor = el.dataset.fill;
    el.style.borderColor = el.dataset.border;
  });

  document.addEventListener('click', function (ev) {
    var del = ev.target.closest('button.del');
    if (del) { ev.preventDefault(); deleteGroup(del); return; }
    var link = ev.target.closest('a.metrics');
    if (link && !link.closest('section.group-view') && !(ev.ctrlKey || ev.metaKey || ev.shiftKey)) {
      ev.preventDefault();
      toggleMetrics(link);
    }
  });
})();
