// blogbot review desk: the editor's live preview (rendered by the desk itself, as the publishers send it) and the
// platform preview tabs. No libraries, nothing fetched from anywhere but the desk.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  document.querySelectorAll(".pv-tabs button").forEach(function (b) {
    b.addEventListener("click", function () {
      document.querySelectorAll(".pv-tabs button").forEach(function (x) { x.classList.toggle("on", x === b); });
      document.querySelectorAll("article.pv").forEach(function (a) { a.hidden = a.dataset.platform !== b.dataset.pv; });
    });
  });
  var chart = document.getElementById("style-chart");
  if (chart) {
    chart.addEventListener("toggle", function () {
      var img = chart.querySelector("img");
      if (chart.open && !img.getAttribute("src")) img.src = chart.dataset.src;
    });
  }
  var editor = document.getElementById("editor");
  var out = document.getElementById("live-preview");
  if (!editor || !out) return;
  var timer = null, seq = 0;
  function refresh() {
    var mine = ++seq, body = new URLSearchParams();
    body.set("text", editor.value);
    fetch(editor.dataset.previewUrl, { method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { if (mine === seq) { out.innerHTML = html; out.dataset.fresh = String(mine); } })
      .catch(function () { /* the preview is a help; saving still works */ });
  }
  editor.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(refresh, 250); });
  refresh();
})();
