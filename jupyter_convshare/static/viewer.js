// jupyter-convshare viewer: optional progressive enhancement. The page works without it.
// - shows <time data-local> in the reader's own time zone (the server writes UTC);
// - Escape closes the large QR view.
(function () {
  "use strict";
  var fmt;
  try {
    fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  } catch (e) {
    return;
  }
  var times = document.querySelectorAll("time[data-local][datetime]");
  for (var i = 0; i < times.length; i++) {
    var t = times[i];
    var d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d.getTime())) {
      t.title = t.textContent;
      t.textContent = fmt.format(d);
    }
  }
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && window.location.hash === "#qr") {
      window.location.hash = "main";
    }
  });
})();
