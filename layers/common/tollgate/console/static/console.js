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
        axes: [{}, { scale: "usd", label: "USD", size: 70, values: dollars },
          { scale: "count", side: 1, label: "Requests" }]
      }, values, el);
      el.dataset.drawn = "1";
    });
  }

  // Spend is often a fraction of a cent a day: the axis keeps two significant digits.
  function dollars(_, ticks) {
    return ticks.map(function (v) {
      if (v === null || v === undefined) return "";
      return "$" + (Math.abs(v) >= 1 ? v.toFixed(2) : String(Number(v.toPrecision(2))));
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

// tickets
// A reply's files go from the browser straight to S3: the console signs a POST for each one
// (POST .../attachments), the file is posted to that URL, and the reply's form then carries
// the file's id in a hidden attachment_ids field, which the reply claims.
(function () {
  "use strict";

  function say(text) {
    var messages = document.getElementById("messages");
    var line = document.createElement("p");
    line.className = "message error";
    line.setAttribute("role", "alert");
    line.textContent = text;
    messages.replaceChildren(line);
  }

  function refusal(response) {
    // the console answers a refusal as its message fragment (HX-Request), S3 as XML
    return response.text().then(function (text) {
      var parsed = new DOMParser().parseFromString(text, "text/html");
      var s3 = /<Message>([^<]*)<\/Message>/.exec(text);
      throw new Error(s3 ? "The upload was refused: " + s3[1] : parsed.body.textContent.trim());
    });
  }

  function signedPost(input, form, file) {
    var asked = new URLSearchParams({
      filename: file.name, content_type: file.type, size_bytes: String(file.size)
    });
    return fetch(input.dataset.ticketUpload, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        "HX-Request": "true",
        "X-CSRF-Token": form.querySelector("input[name=csrf]").value
      },
      body: asked
    }).then(function (response) { return response.ok ? response.json() : refusal(response); });
  }

  function toBucket(file, signed) {
    var data = new FormData();
    Object.keys(signed.upload.fields).forEach(function (name) {
      data.append(name, signed.upload.fields[name]);
    });
    data.append("file", file);  // last: S3 ignores fields after the file
    return fetch(signed.upload.url, { method: "POST", body: data }).then(function (response) {
      return response.ok ? signed : refusal(response);
    });
  }

  function attached(form, item, signed) {
    var field = document.createElement("input");
    field.type = "hidden";
    field.name = "attachment_ids";
    field.value = signed.id;
    form.appendChild(field);
    item.textContent = signed.filename + " uploaded";
  }

  function uploads(root) {
    root.querySelectorAll("input[data-ticket-upload]").forEach(function (input) {
      var form = input.form;
      var list = form.querySelector("[data-ticket-uploaded]");
      var sending = form.querySelector("button[type=submit]");
      input.addEventListener("change", function () {
        var files = Array.prototype.slice.call(input.files);
        var room = Number(input.dataset.mostFiles) - form.querySelectorAll("input[name=attachment_ids]").length;
        if (files.length > room) { say("A message carries at most " + input.dataset.mostFiles + " files."); return; }
        sending.disabled = true;
        files.reduce(function (done, file) {
          var item = document.createElement("li");
          return done.then(function () {
            item.textContent = "Uploading " + file.name + "…";
            list.appendChild(item);
            return signedPost(input, form, file);
          })
            .then(function (signed) { return toBucket(file, signed); })
            .then(function (signed) { attached(form, item, signed); })
            .catch(function (error) { item.remove(); throw error; });
        }, Promise.resolve())
          .catch(function (error) { say(error.message || "The upload failed; try again."); })
          .finally(function () { sending.disabled = false; input.value = ""; });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { uploads(document); });
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
