// The watchlist page's live headline stream: every few seconds, ask finance:stream for the
// stories scored since the last cursor and prepend them (a rescored story moves to the top).
// The items are rendered (and escaped) by the server; with JavaScript off the list is simply
// the one of page load.
(function () {
  "use strict";

  var list = document.querySelector("[data-stream-url]");
  if (!list) return;
  var interval = parseInt(list.getAttribute("data-interval"), 10) || 5000;
  var maxItems = parseInt(list.getAttribute("data-max-items"), 10) || 50;
  var empty = document.querySelector("[data-stream-empty]");
  var busy = false;

  function prepend(html) {
    var holder = document.createElement("ol");
    holder.innerHTML = html;
    var items = Array.prototype.slice.call(holder.children);
    // Oldest of the batch first, so that the newest ends on top.
    for (var i = items.length - 1; i >= 0; i--) {
      var existing = document.getElementById(items[i].id);
      if (existing) existing.remove();
      list.insertBefore(items[i], list.firstChild);
    }
    while (list.children.length > maxItems) list.removeChild(list.lastElementChild);
    if (empty && list.children.length) empty.hidden = true;
  }

  function poll() {
    if (busy || document.hidden) return;
    busy = true;
    var url = list.getAttribute("data-stream-url") + "?since=" +
      encodeURIComponent(list.getAttribute("data-cursor") || "0");
    fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (!answer) return;
        if (answer.count) prepend(answer.html);
        list.setAttribute("data-cursor", String(answer.cursor));
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ })
      .then(function () { busy = false; });
  }

  window.setInterval(poll, interval);
})();
