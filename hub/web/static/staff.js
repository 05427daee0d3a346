// Staff dashboard: keep each site's live part up to date from /staff/events (Server-Sent Events).
// The page works without this script (it is fully rendered by the hub, forms post and redirect);
// EventSource reconnects by itself after a network cut or a hub restart.
(function () {
  "use strict";
  var root = document.querySelector("[data-events-url]");
  if (!root || !window.EventSource) { return; }
  var status = document.getElementById("live-status");

  function show(text, offline) {
    if (!status) { return; }
    status.hidden = false;
    status.textContent = text;
    status.classList.toggle("offline", offline);
  }

  var source = new EventSource(root.getAttribute("data-events-url"));
  source.addEventListener("open", function () { show(status.getAttribute("data-live"), false); });
  source.addEventListener("error", function () { show(status.getAttribute("data-offline"), true); });
  source.addEventListener("site", function (event) {
    var data = JSON.parse(event.data);
    var target = document.getElementById("live-" + data.site);
    if (!target) { return; }
    // Do not replace a form being used (a focused button) under the pointer; next update will.
    if (target.contains(document.activeElement) && document.activeElement !== document.body) { return; }
    target.innerHTML = data.html; // rendered and escaped by the hub
  });
  source.addEventListener("signed-out", function () {
    source.close();
    window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
  });
})();
