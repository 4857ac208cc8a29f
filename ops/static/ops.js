// Live tab counts: refreshes the counts of the work queue's tabs without
// reloading the page. The pages work without it; only the counts stay
// as they were rendered.
(function () {
  "use strict";
  var status = document.getElementById("counts-status");
  if (!status || !window.fetch) { return; }
  var every = parseInt(status.getAttribute("data-every"), 10) || 5000;
  function tick() {
    fetch("/ops/counts", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) {
          status.textContent = "Your session ended: reload the page to log in again.";
          return null;
        }
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (c) {
        if (c === null) { return; }
        Object.keys(c).forEach(function (k) {
          var el = document.querySelector('[data-count="' + k + '"]');
          if (el) { el.textContent = c[k]; }
        });
        status.textContent = "Counts updated at " + new Date().toLocaleTimeString() + ".";
        setTimeout(tick, every);
      })
      .catch(function (e) {
        status.textContent = "Counts could not be refreshed (" + e.message + "); trying again.";
        setTimeout(tick, every);
      });
  }
  setTimeout(tick, every);
}());
