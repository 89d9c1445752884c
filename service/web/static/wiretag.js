// wiretag workspace: keyboard shortcuts on the queue and the review list. Only an aid:
// every page works without it.  "/" focuses the search, j/k move between items, o opens
// the current item's details.
(function () {
  "use strict";
  var current = -1;
  function items() { return document.querySelectorAll("ol.items > li.item"); }
  function select(index) {
    var list = items();
    if (!list.length) { return; }
    current = Math.max(0, Math.min(list.length - 1, index));
    list.forEach(function (li, i) { li.classList.toggle("current", i === current); });
    list[current].setAttribute("tabindex", "-1");
    list[current].focus();
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (target && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(target.tagName)) { return; }
    if (event.key === "/") {
      var search = document.getElementById("q");
      if (search) { event.preventDefault(); search.focus(); search.select(); }
    } else if (event.key === "j") {
      select(current + 1);
    } else if (event.key === "k") {
      select(current - 1);
    } else if (event.key === "o" && current >= 0) {
      var link = items()[current].querySelector("a.open, h2 a");
      if (link) { window.location.href = link.href; }
    }
  });
}());
