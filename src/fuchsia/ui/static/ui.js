// Fuchsia UI: live updates and confirmations. No inline script anywhere (the pages' CSP
// allows only this server's files), so behaviour is wired here from data- attributes.
(function () {
  "use strict";

  // data-stream on <body>: an event stream whose "changed" events make htmx re-fetch every
  // fragment listening for "fuchsia:changed from:body"; "ended" closes it for good.
  function listen() {
    var url = document.body.getAttribute("data-stream");
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    var changed = function () {
      if (window.htmx) window.htmx.trigger(document.body, "fuchsia:changed");
    };
    source.addEventListener("changed", changed);
    source.addEventListener("ended", function () {
      source.close();
      changed();
      document.body.setAttribute("data-live", "ended");
    });
    document.body.setAttribute("data-live", "open");
    window.addEventListener("pagehide", function () { source.close(); });
  }

  // <form data-confirm="question">: asks before it is sent.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", listen);
  } else {
    listen();
  }
})();
