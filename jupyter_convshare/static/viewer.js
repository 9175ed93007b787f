// jupyter-convshare viewer: optional progressive enhancement. The page works without it.
// - shows <time data-local> in the reader's own time zone (the server writes UTC);
// - Escape closes the large QR view;
// - the branch switcher (‹ 2 / 3 ›) swaps the messages in place: it fetches the branch's
//   page from this same origin, takes its <main> (DOMParser: nothing in it runs) and keeps
//   the URL in the address bar (history), instead of a full reload. The arrows are plain
//   links, so without this script they navigate to the same pages. The collaborate form
//   is inside <main>, so it follows the branch shown.
(function () {
  "use strict";
  var fmt = null;
  try {
    fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  } catch (e) {
    fmt = null;
  }

  function localTimes(root) {
    if (!fmt) {
      return;
    }
    var times = root.querySelectorAll("time[data-local][datetime]");
    for (var i = 0; i < times.length; i++) {
      var t = times[i];
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d.getTime())) {
        t.title = t.textContent;
        t.textContent = fmt.format(d);
      }
    }
  }
  localTimes(document);

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && window.location.hash === "#qr") {
      window.location.hash = "main";
    }
  });

  // -- branch switcher ------------------------------------------------------------------
  var SWITCH_HEADER = "X-Convshare-Branch-Switch"; // the server counts no view for these
  if (!window.fetch || !window.DOMParser || !window.history || !window.history.pushState || !window.URL) {
    return;
  }
  var shown = withoutHash(window.location.href);
  var generation = 0;

  function withoutHash(href) {
    var url = new URL(href, window.location.href);
    url.hash = "";
    return url.href;
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var next = doc.getElementById("main");
    var main = document.getElementById("main");
    if (!next || !main) {
      return false;
    }
    main.replaceChildren.apply(main, Array.prototype.slice.call(next.childNodes));
    var count = doc.getElementById("message-count");
    var here = document.getElementById("message-count");
    if (count && here) {
      here.textContent = count.textContent;
    }
    // "Save to my library" (logged-in readers) returns to the branch shown: take its form
    // from the new page too (inert markup: a form and hidden inputs).
    var save = doc.querySelector("form.save-form");
    var saveHere = document.querySelector("form.save-form");
    if (save && saveHere) {
      saveHere.replaceWith(document.importNode(save, true));
    }
    localTimes(main);
    return true;
  }

  // Load the page at ``href`` into this one. ``link`` is the arrow clicked (null for the
  // back/forward buttons): its message keeps its place on screen and the focus.
  function load(href, link, push) {
    var url = new URL(href, window.location.href);
    if (url.origin !== window.location.origin) {
      window.location.assign(href);
      return;
    }
    var anchor = url.hash ? url.hash.slice(1) : "";
    var item = anchor ? document.getElementById(anchor) : null;
    var top = item ? item.getBoundingClientRect().top : null;
    var arrowClass = link ? (link.classList.contains("branch-prev") ? "branch-prev" : "branch-next") : "";
    var mine = ++generation;
    document.body.classList.add("is-switching");
    var headers = {};
    headers[SWITCH_HEADER] = "1";
    window
      .fetch(url.href, { headers: headers, credentials: "same-origin", redirect: "error" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        if (mine !== generation) {
          return; // a later click won
        }
        document.body.classList.remove("is-switching");
        if (!swap(html)) {
          window.location.assign(url.href);
          return;
        }
        shown = withoutHash(url.href);
        if (push) {
          window.history.pushState({ convshareBranch: true }, "", url.href);
        }
        var moved = anchor ? document.getElementById(anchor) : null;
        if (moved && top !== null) {
          window.scrollBy(0, moved.getBoundingClientRect().top - top);
        }
        if (moved && arrowClass) {
          var focus =
            moved.querySelector("a." + arrowClass) || moved.querySelector(".branch-switch a.branch-arrow");
          if (focus) {
            focus.focus({ preventScroll: true });
          }
        }
      })
      .catch(function () {
        if (mine === generation) {
          window.location.assign(url.href); // let the server say what is wrong
        }
      });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    var link = target && target.closest ? target.closest("a[data-branch-link]") : null;
    if (!link || event.defaultPrevented || event.button !== 0) {
      return;
    }
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return; // a new tab or window: the browser's own business
    }
    event.preventDefault();
    load(link.href, link, true);
  });

  window.history.replaceState({ convshareBranch: true }, "", window.location.href);
  window.addEventListener("popstate", function (event) {
    if (!event.state || !event.state.convshareBranch || withoutHash(window.location.href) === shown) {
      return; // a #qr / #m3 jump, or the branch already shown
    }
    load(window.location.href, null, false);
  });
})();
