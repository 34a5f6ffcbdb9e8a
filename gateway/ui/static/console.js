// Times are rendered in UTC by the server; show them in the viewer's time zone, keeping
// UTC in the hover title. Runs on load and on every htmx swap (the board refreshes).
(function () {
  "use strict";
  function localize(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var moment = new Date(el.getAttribute("datetime"));
      if (!isNaN(moment.getTime())) {
        el.textContent = moment.toLocaleString(undefined, {
          year: "numeric", month: "short", day: "numeric",
          hour: "2-digit", minute: "2-digit", second: "2-digit",
        });
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localize(document); });
  document.addEventListener("htmx:afterSwap", function (event) { localize(event.target); });
  document.addEventListener("htmx:oobAfterSwap", function (event) { localize(event.target); });
})();
