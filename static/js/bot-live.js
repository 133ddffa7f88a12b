/* Live bot pages (inbox, conversation): poll the page's cheap "version" endpoint
 * (data-live-url) every few seconds; when the version changes, fetch the page again and swap
 * in its live regions (elements with data-live-region and an id), leaving forms the agent may
 * be typing in untouched. Polling rather than server-sent events: see apps/support_bot/inbox.py.
 */
(function () {
  "use strict";
  var INTERVAL_MS = 3000;

  function refresh() {
    return fetch(window.location.href, {credentials: "same-origin",
                                        headers: {"X-Requested-With": "live"}})
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live-region][id]").forEach(function (region) {
          var replacement = fresh.getElementById(region.id);
          if (replacement) { region.replaceWith(document.importNode(replacement, true)); }
        });
      });
  }

  function watch(source) {
    var busy = false;
    setInterval(function () {
      if (busy || document.hidden) { return; }
      busy = true;
      fetch(source.dataset.liveUrl, {credentials: "same-origin",
                                     headers: {"Accept": "application/json"}})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data || data.version === source.dataset.liveVersion) { return null; }
          source.dataset.liveVersion = data.version;
          return refresh();
        })
        .catch(function () { /* offline for a moment: the next poll tries again */ })
        .then(function () { busy = false; });
    }, INTERVAL_MS);
  }

  function insertCanned(event) {
    var button = event.target.closest("[data-canned-text]");
    if (!button) { return; }
    var box = document.getElementById(button.dataset.cannedTarget);
    if (!box) { return; }
    var start = box.selectionStart || 0;
    var end = box.selectionEnd || 0;
    box.value = box.value.slice(0, start) + button.dataset.cannedText + box.value.slice(end);
    box.focus();
  }

  function init() {
    document.querySelectorAll("[data-live-url]").forEach(watch);
    document.addEventListener("click", insertCanned);
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); }
  else { init(); }
})();
