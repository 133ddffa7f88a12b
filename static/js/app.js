// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // <form data-confirm="..."> asks before submitting (remove, revoke).
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  }, true);

  // A form marked data-swap-errors shows its error responses (400 refused, 402 quota, 502/503
  // no model or worker: partials that explain themselves) instead of htmx dropping them.
  // Listened to on the document, not on the form: htmx 2 fires htmx:beforeSwap on the swap
  // target (the chat around the form, the result beside it), so a listener on the form itself
  // (the hx-on::before-swap these forms had) never ran.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (event.detail.xhr.status >= 400 && source && source.closest &&
        source.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // <button data-copy="#selector"> copies the element's text (a new API key or webhook
  // secret, the widget snippet). Without the Clipboard API (a page served over plain http
  // from another host) the text is selected and copied the old way.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent.trim();
    function copied() {
      var label = button.textContent;
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = label; }, 1500);
    }
    function fallback() {
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      try { if (document.execCommand("copy")) copied(); } catch (error) { /* left selected */ }
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(copied, fallback);
    } else {
      fallback();
    }
  });

  // The Content-Security-Policy refuses inline handlers (onclick=, onchange=): these two
  // attributes do what they did. <select data-autosubmit> submits its form on change;
  // <button data-print> prints the page.
  document.addEventListener("change", function (event) {
    var field = event.target.closest && event.target.closest("[data-autosubmit]");
    if (field && field.form) field.form.requestSubmit ? field.form.requestSubmit() : field.form.submit();
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) window.print();
  });

  // <details data-menu> dropdowns close on an outside click or Escape, like real menus.
  function closeMenus(except) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest("details[data-menu]"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeMenus(null);
  });

  // The bot settings' widget preview follows the heading, greeting, colour and avatar fields
  // as they are typed, before anything is saved.
  var preview = document.querySelector("[data-widget-preview]");
  if (preview) {
    var field = function (name) { return document.getElementById("id_" + name); };
    var part = function (name) { return preview.querySelector("[data-preview-" + name + "]"); };
    var update = function () {
      var colour = (field("widget_colour") || {}).value || "";
      if (!/^#[0-9a-fA-F]{6}$/.test(colour)) colour = "#2456d6";
      part("header").style.background = colour;
      part("toggle").style.background = colour;
      part("title").textContent = ((field("widget_title") || {}).value || "").trim() ||
        preview.getAttribute("data-default-title");
      var greeting = ((field("widget_greeting") || {}).value || "").trim();
      part("greeting").textContent = greeting;
      part("greeting").hidden = !greeting;
      var avatar = ((field("widget_avatar_url") || {}).value || "").trim();
      var image = part("avatar");
      if (/^https:\/\//i.test(avatar)) { image.src = avatar; image.hidden = false; }
      else { image.removeAttribute("src"); image.hidden = true; }
    };
    ["widget_title", "widget_greeting", "widget_colour", "widget_avatar_url"].forEach(function (name) {
      if (field(name)) field(name).addEventListener("input", update);
    });
    update();
  }
})();
