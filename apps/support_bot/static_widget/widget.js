/* Customer-service bot web widget.
 *
 *   <script src="https://platform.example.com/bot/widget.js" data-key="wk_..." async></script>
 *
 * Adds a chat button and panel to the page. Talks to the platform that served this script,
 * with the public widget key; the page's origin must be on the bot's allow-list.
 *
 * Its texts are in the snippet's data-lang (set in the bot settings) or else the visitor's
 * browser language: any zh* is Simplified Chinese, anything else English.
 *
 * The conversation (its id and token) is kept in the page's localStorage, per widget key: a
 * reload, or the next page of the shop, shows it again and goes on with it. A refusal (an
 * origin off the allow-list, a wrong key) is shown to the visitor and its reason logged.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.key) { return; }
  var key = script.dataset.key;
  var base = new URL(script.src).origin + "/api/v1/bot/widget";
  var storeKey = "aip-bot:" + key;
  var conversation = (function () {
    try { return JSON.parse(window.localStorage.getItem(storeKey) || "null"); }
    catch (error) { return null; }  // storage off (private mode, sandboxed frame)
  })();
  function remember(value) {
    conversation = value;
    try {
      if (value) { window.localStorage.setItem(storeKey, JSON.stringify({id: value.id, token: value.token})); }
      else { window.localStorage.removeItem(storeKey); }
    } catch (error) { /* kept for this page only */ }
  }
  // Filled in by the server with every language's texts ({"en": {...}, "zh-hans": {...}}).
  var STRINGS = /*!strings*/{};
  var language = (function () {
    var wanted = (script.dataset.lang || navigator.language || "en").toLowerCase();
    if (STRINGS[wanted]) { return wanted; }
    return wanted.indexOf("zh") === 0 ? "zh-hans" : "en";
  })();
  function t(name) { return (STRINGS[language] || STRINGS.en || {})[name] || name; }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text) { node.textContent = text; }
    return node;
  }

  var lastSeen = 0;
  var polling = null;

  function call(path, body) {
    var headers = {"Content-Type": "application/json", "X-Widget-Key": key};
    if (conversation) { headers["X-Conversation-Token"] = conversation.token; }
    var options = body === undefined ? {method: "GET", headers: headers}
      : {method: "POST", headers: headers, body: JSON.stringify(body)};
    return fetch(base + path, options).then(function (response) {
      return response.json().then(function (data) { return {ok: response.ok, data: data}; });
    });
  }

  function failure(data) {
    // The server's reason, and for a refusal the visitor's notice; the console gets both.
    var error = (data && data.error) || {};
    var reason = error.message || "error";
    if (error.code === "origin_not_allowed" || error.code === "authentication_failed") {
      if (window.console) { window.console.error("AI platform chat widget: " + reason); }
      var refused = new Error(t("refused"));
      refused.refused = true;
      return refused;
    }
    return new Error(reason);
  }

  function poll() {
    // Once a person has the conversation, their replies are fetched every few seconds.
    if (!conversation || panel.style.display === "none") { return; }
    call("/conversations/" + conversation.id + "/messages?after=" + lastSeen).then(function (result) {
      if (!result.ok) { return; }
      result.data.forEach(function (message) {
        lastSeen = Math.max(lastSeen, message.id);
        if (message.role === "agent") { say("agent", message.text, message.author); }
      });
    });
  }

  var root = el("div", {"class": "aip-bot", "data-testid": "bot-widget", "lang": language});
  // 16px at least wherever the visitor types or taps: phones zoom into smaller inputs.
  root.style.cssText = "position:fixed;right:16px;bottom:16px;z-index:2147483000;" +
    "font:16px/1.4 system-ui,sans-serif";
  var toggle = el("button", {"type": "button", "aria-expanded": "false"}, t("open"));
  toggle.style.cssText = "font:inherit;padding:10px 16px;border-radius:20px;border:0;background:#2456d6;" +
    "color:#fff;cursor:pointer";
  var panel = el("div", {"role": "dialog", "aria-label": t("dialog")});
  panel.style.cssText = "display:none;width:320px;height:400px;background:#fff;" +
    "border:1px solid #ccd;border-radius:8px;margin-bottom:8px;flex-direction:column";
  var log = el("div", {"aria-live": "polite", "data-testid": "bot-widget-log"});
  log.style.cssText = "flex:1;overflow:auto;padding:8px";
  var form = el("form");
  form.style.cssText = "display:flex;border-top:1px solid #ccd";
  var input = el("input", {"type": "text", "aria-label": t("message"), "maxlength": "4000",
                           "placeholder": t("placeholder")});
  input.style.cssText = "flex:1;min-width:0;border:0;padding:8px;font-size:16px";
  var send = el("button", {"type": "submit"}, t("send"));
  send.style.cssText = "font-size:16px";
  form.appendChild(input);
  form.appendChild(send);
  // Asking for a person is always possible, not only when the bot gives up.
  var human = el("button", {"type": "button", "data-testid": "bot-widget-human"}, t("human"));
  human.style.cssText = "font-size:16px;border:0;border-top:1px solid #ccd;background:#f8f8fb;padding:6px;" +
    "cursor:pointer;color:#2456d6";
  // The heading (avatar and name) and the greeting come from the bot settings (config()).
  var header = el("div", {"data-testid": "bot-widget-header"});
  header.style.cssText = "display:flex;align-items:center;gap:8px;padding:8px;color:#fff;" +
    "background:#2456d6;border-radius:8px 8px 0 0;font-weight:600";
  panel.appendChild(header);
  panel.appendChild(log);
  panel.appendChild(human);
  panel.appendChild(form);
  root.appendChild(panel);
  root.appendChild(toggle);

  function say(role, text, author) {
    var line = el("p", {"class": "aip-" + role, "data-role": role});
    if (author) {
      // An agent's reply, signed with the agent's first name.
      var name = el("strong", {"data-testid": "bot-widget-author"}, author);
      name.style.cssText = "display:block;font-size:13px;color:#555";
      line.appendChild(name);
    }
    line.appendChild(el("span", {"class": "aip-text"}, text));
    line.style.cssText = "margin:4px 0;padding:6px 8px;border-radius:6px;" +
      (role === "user" ? "background:#eef2ff;text-align:right" : "background:#f4f4f6");
    log.appendChild(line);
    log.scrollTop = log.scrollHeight;
    return line;
  }

  function sources(line, citations) {
    // A composed reply's sources: the articles' titles, linked where they have a URL.
    if (!citations || !citations.length) { return; }
    var list = el("small", {"class": "aip-sources", "data-testid": "bot-widget-sources"},
                  t("sources") + " ");
    list.style.cssText = "display:block;margin-top:4px;color:#555";
    citations.forEach(function (citation, index) {
      if (index) { list.appendChild(document.createTextNode("; ")); }
      var safe = /^https?:\/\//i.test(citation.url || "");
      var item = safe ? el("a", {"href": citation.url, "target": "_blank",
                                 "rel": "noopener noreferrer"}, citation.title)
        : el("span", {}, citation.title);
      list.appendChild(item);
    });
    line.appendChild(list);
  }

  function start() {
    if (conversation) { return Promise.resolve(conversation); }
    return call("/conversations", {}).then(function (result) {
      if (!result.ok) { throw failure(result.data); }
      remember(result.data);
      return conversation;
    });
  }

  var colour = "#2456d6";
  function config() {
    call("/config").then(function (result) {
      if (!result.ok) {
        // Refused (an origin off the allow-list, a wrong key): said once the chat opens.
        var error = failure(result.data);
        if (error.refused) {
          say("error", error.message);
          input.disabled = send.disabled = human.disabled = true;
        }
        return;  // anything else: the widget works with its defaults
      }
      var look = result.data;
      if (/^#[0-9a-fA-F]{6}$/.test(look.colour || "")) { colour = look.colour; }
      header.style.background = colour;
      toggle.style.background = colour;
      human.style.color = colour;
      if (/^https:\/\//i.test(look.avatar_url || "")) {
        var avatar = el("img", {"src": look.avatar_url, "alt": "", "width": "28", "height": "28",
                                "data-testid": "bot-widget-avatar"});
        avatar.style.cssText = "border-radius:50%;object-fit:cover;background:#fff";
        header.appendChild(avatar);
      }
      header.appendChild(el("span", {"data-testid": "bot-widget-title"}, look.title));
      if (look.greeting) {
        var greeting = say("bot", look.greeting);
        greeting.setAttribute("data-role", "greeting");
        log.insertBefore(greeting, log.firstChild);
      }
    }).catch(function () { /* offline: the widget works with its defaults */ });
  }

  function restore() {
    // A kept conversation is shown again; one the server no longer knows is forgotten.
    if (!conversation) { return; }
    call("/conversations/" + conversation.id + "/messages?after=0").then(function (result) {
      if (!result.ok) {
        if (result.data && result.data.error && result.data.error.code === "not_found") { remember(null); }
        else { say("error", failure(result.data).message); }
        return;
      }
      result.data.forEach(function (message) {
        lastSeen = Math.max(lastSeen, message.id);
        sources(say(message.role, message.text, message.author), message.citations);
      });
      if (!polling) { polling = setInterval(poll, 5000); }
    }).catch(function () { /* offline: the next message tries again */ });
  }

  var typing = el("p", {"data-testid": "bot-widget-typing", "aria-live": "polite"}, t("typing"));
  typing.style.cssText = "margin:4px 0;color:#777;font-style:italic";
  function waiting(on) {
    if (on) { log.appendChild(typing); log.scrollTop = log.scrollHeight; }
    else if (typing.parentNode) { typing.parentNode.removeChild(typing); }
  }

  toggle.addEventListener("click", function () {
    var open = panel.style.display === "none";
    panel.style.display = open ? "flex" : "none";
    toggle.setAttribute("aria-expanded", String(open));
    if (open) { input.focus(); }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    say("user", text);
    send.disabled = true;
    waiting(true);
    start().then(function () {
      return call("/conversations/" + conversation.id + "/messages", {text: text});
    }).then(function (result) {
      waiting(false);
      if (!result.ok) { throw failure(result.data); }
      lastSeen = Math.max(lastSeen, result.data.message.id,
                          result.data.reply ? result.data.reply.id : 0);
      if (result.data.reply) {
        sources(say("bot", result.data.reply.text), result.data.reply.citations);
      }
      else { say("bot", t("handoff")); }
      if (result.data.status === "handed_off" && !polling) { polling = setInterval(poll, 5000); }
    }).catch(function (error) {
      waiting(false);
      say("error", error.refused ? error.message : t("failed") + " " + error.message);
    }).then(function () { send.disabled = false; });
  });

  human.addEventListener("click", function () {
    human.disabled = true;
    start().then(function () {
      return call("/conversations/" + conversation.id + "/handoff", {});
    }).then(function (result) {
      if (!result.ok) { throw failure(result.data); }
      lastSeen = Math.max(lastSeen, result.data.reply.id);
      say("bot", result.data.reply.text);
      if (!polling) { polling = setInterval(poll, 5000); }
    }).catch(function (error) {
      say("error", error.refused ? error.message : t("failed") + " " + error.message);
    }).then(function () { human.disabled = false; });
  });

  config();
  restore();
  if (document.body) { document.body.appendChild(root); }
  else { document.addEventListener("DOMContentLoaded", function () { document.body.appendChild(root); }); }
})();
