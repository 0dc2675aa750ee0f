// The console's only script of its own: local times, charts, copy buttons. No inline
// script anywhere (the CSP forbids it): pages hand data over in <script type="application/json">.
(function () {
  "use strict";

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var moment = new Date(el.getAttribute("datetime"));
      if (isNaN(moment.getTime()) || el.dataset.local) return;
      el.dataset.local = "1";
      el.textContent = moment.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
      });
    });
  }

  function charts(root) {
    if (typeof uPlot === "undefined") return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      var source = document.getElementById(el.dataset.chartSource);
      if (!source) return;
      var data = JSON.parse(source.textContent);
      var xs = data.days.map(function (day) { return Date.parse(day + "T00:00:00Z") / 1000; });
      var series = [{}];
      var values = [xs];
      (data.series || [
        { label: "Spend (USD)", values: data.spend, scale: "usd" },
        { label: "Requests", values: data.requests, scale: "count" }
      ]).forEach(function (one, index) {
        series.push({
          label: one.label, scale: one.scale || "usd",
          stroke: ["#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2"][index % 6],
          width: 2
        });
        values.push(one.values);
      });
      var width = Math.max(320, el.clientWidth || 640);
      new uPlot({
        width: width, height: 240, series: series,
        scales: { x: { time: true } },
        axes: [{}, { scale: "usd", label: "USD" }, { scale: "count", side: 1, label: "Requests" }]
      }, values, el);
      el.dataset.drawn = "1";
    });
  }

  function copyButtons(root) {
    root.querySelectorAll("[data-copy-target]").forEach(function (button) {
      if (button.dataset.bound) return;
      button.dataset.bound = "1";
      button.addEventListener("click", function () {
        var target = document.getElementById(button.dataset.copyTarget);
        if (!target) return;
        var text = target.value !== undefined ? target.value : target.textContent;
        var done = function () { button.textContent = "Copied"; };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () { select(target); });
        } else {
          select(target);
          try { document.execCommand("copy"); done(); } catch (e) { /* selected for the person */ }
        }
      });
    });
  }

  function select(target) {
    if (target.select) { target.select(); return; }
    var range = document.createRange();
    range.selectNodeContents(target);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function tokenFromFragment(root) {
    // An invitation link carries its token after '#', which the browser never sends.
    var match = /[#&]token=([^&]+)/.exec(window.location.hash);
    if (!match) return;
    root.querySelectorAll("input[data-token-from-fragment]").forEach(function (input) {
      input.value = decodeURIComponent(match[1]);
    });
  }

  function enhance(root) {
    localTimes(root);
    charts(root);
    copyButtons(root);
    tokenFromFragment(root);
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.target); });
})();

// people
(function () {
  "use strict";
  // An invitation's token survives the way through sign-in, in this tab only: the fragment is
  // lost at the sign-in form's POST, so it is kept here until the invitation is accepted.
  var KEY = "tollgate.invitation";
  function keep() {
    var match = /[#&]token=([^&]+)/.exec(window.location.hash);
    if (match) {
      try { window.sessionStorage.setItem(KEY, decodeURIComponent(match[1])); } catch (e) { /* storage off */ }
    }
  }
  function restore() {
    var kept = null;
    try { kept = window.sessionStorage.getItem(KEY); } catch (e) { return; }
    document.querySelectorAll("input[data-token-from-fragment]").forEach(function (input) {
      if (!input.value && kept) input.value = kept;
    });
  }
  function forget() {
    // the console lands on ?joined once the invitation is accepted
    if (/[?&]joined\b/.test(window.location.search)) {
      try { window.sessionStorage.removeItem(KEY); } catch (e) { /* storage off */ }
    }
  }
  keep();
  forget();
  document.addEventListener("DOMContentLoaded", restore);
})();
