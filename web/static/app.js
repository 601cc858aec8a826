// sitrep live updates, without a framework. A page that follows something
// (the board, an incident) has an element with data-live: it opens the
// server-sent event stream named by data-events and, on each "change",
// asks the server for what it is missing, already rendered as HTML:
// timeline entries after data-seq (appended), and the fragment at
// data-refresh, which replaces the element whose id is data-target.
// Forms in a replaced fragment keep what the person typed, and focus.
// An incident's events name its latest timeline entry (the board's first
// event, the board's version), so a page already showing it fetches
// nothing.
"use strict";
(function () {
  document.querySelectorAll("[data-print]").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
  var root = document.querySelector("[data-live]");
  if (!root || !("EventSource" in window) || !window.fetch) return;
  var status = document.querySelector("[data-live-status]");
  function say(text, cls) {
    if (status) { status.textContent = text; status.className = "live " + cls; }
  }
  var running = false, again = false;

  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
      if (r.status === 401) {
        location.href = "/login?next=" + encodeURIComponent(location.pathname);
        throw new Error("signed out");
      }
      if (!r.ok) throw new Error(url + ": " + r.status);
      return r.text();
    });
  }

  function changed(f) {
    if (f.type === "checkbox" || f.type === "radio") return f.checked !== f.defaultChecked;
    if (f.tagName === "SELECT") {
      for (var i = 0; i < f.options.length; i++) if (f.options[i].selected !== f.options[i].defaultSelected) return true;
      return false;
    }
    return f.value !== f.defaultValue;
  }

  function swap(el, html) {
    var kept = [];
    el.querySelectorAll("input, textarea, select").forEach(function (f) {
      if (f.id && f.type !== "hidden" && changed(f)) kept.push([f.id, f.value, f.checked]);
    });
    var active = document.activeElement && el.contains(document.activeElement) ? document.activeElement : null;
    var activeId = active && active.id, start = null, end = null;
    try { if (active) { start = active.selectionStart; end = active.selectionEnd; } } catch (e) { /* not a text field */ }
    el.innerHTML = html;
    kept.forEach(function (k) {
      var f = document.getElementById(k[0]);
      if (f) { f.value = k[1]; f.checked = k[2]; }
    });
    if (activeId) {
      var f = document.getElementById(activeId);
      if (f) {
        f.focus();
        try { if (start !== null) f.setSelectionRange(start, end); } catch (e) { /* not a text field */ }
      }
    }
  }

  function appendEntries() {
    if (!root.dataset.timeline) return Promise.resolve();
    return get(root.dataset.timeline + "?after=" + encodeURIComponent(root.dataset.seq)).then(function (html) {
      if (!html.trim()) return;
      var list = document.getElementById("timeline");
      var atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      var tmp = document.createElement("ol");
      tmp.innerHTML = html;
      var received = tmp.children.length;
      Array.prototype.slice.call(tmp.children).forEach(function (li) {
        if (Number(li.dataset.seq) <= Number(root.dataset.seq)) return;
        li.classList.add("new");
        list.appendChild(li);
        root.dataset.seq = li.dataset.seq;
      });
      if (atEnd) list.scrollTop = list.scrollHeight;
      // The server sends at most a page of entries: ask for the rest.
      if (received >= 500) again = true;
    });
  }

  function refresh() {
    if (running) { again = true; return; }
    running = true;
    appendEntries().then(function () {
      return get(root.dataset.refresh);
    }).then(function (html) {
      swap(document.getElementById(root.dataset.target), html);
      delete root.dataset.version; // it named the board as first drawn
      root.dataset.updates = String(Number(root.dataset.updates || 0) + 1);
      say("Live", "ok");
    }).catch(function () {
      say("Update failed; retrying", "bad");
    }).then(function () {
      running = false;
      if (again) { again = false; refresh(); }
    });
  }

  var timeline = document.getElementById("timeline");
  if (timeline) timeline.scrollTop = timeline.scrollHeight;
  var es = new EventSource(root.dataset.events);
  // An incident's events carry its latest sequence number, the board's
  // first event the version of the board: a page that shows it already
  // has nothing to fetch (the first event, at the stream's start, usually
  // says so).
  es.addEventListener("change", function (ev) {
    var seq = Number(ev.data);
    if ((root.dataset.seq && seq > 0 && seq <= Number(root.dataset.seq)) ||
        (root.dataset.version && ev.data === root.dataset.version)) {
      root.dataset.updates = String(Number(root.dataset.updates || 0) + 1);
      say("Live", "ok");
      return;
    }
    refresh();
  });
  es.onopen = function () { say("Live", "ok"); };
  es.onerror = function () { say("Reconnecting…", "bad"); };
  // Ages on the page move with the clock even when nothing changes.
  setInterval(refresh, 60000);
})();
