(function () {
  "use strict";
  var root = document.documentElement;
  var cells = Array.prototype.slice.call(document.querySelectorAll("details.cellbox"));

  // Copy buttons for the reproduction lines (shown only when the script runs).
  document.querySelectorAll("button.copy").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = button.getAttribute("data-copy") || "";
      var done = function () {
        button.textContent = "Copied";
        window.setTimeout(function () { button.textContent = "Copy"; }, 1500);
      };
      var select = function () {
        var range = document.createRange();
        range.selectNodeContents(button.previousElementSibling);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, select);
      } else {
        select();
      }
    });
  });

  // Verdict filters and expand/collapse for the cell list.
  var filters = document.querySelector(".filters");
  if (filters) {
    filters.hidden = false;
    filters.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button) { return; }
      var filter = button.getAttribute("data-filter");
      var action = button.getAttribute("data-action");
      if (filter) {
        filters.querySelectorAll("button[data-filter]").forEach(function (b) {
          b.classList.toggle("on", b === button);
        });
        cells.forEach(function (c) {
          c.hidden = filter !== "all" && c.getAttribute("data-verdict") !== filter;
        });
      } else if (action) {
        cells.forEach(function (c) { if (!c.hidden) { c.open = action === "open"; } });
      }
    });
  }

  // A link to a cell opens it.
  function openTarget() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var target = id ? document.getElementById(id) : null;
    if (target && target.tagName === "DETAILS") { target.hidden = false; target.open = true; }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();

  // Say on <html> what was laid out, for a headless browser to read back.
  function check() {
    var table = document.getElementById("matrix-table");
    var box = table ? table.getBoundingClientRect() : { width: 0, height: 0 };
    var matrixCells = table ? table.querySelectorAll("td.cell").length : 0;
    var svgs = document.querySelectorAll("svg.timeline");
    var drawn = 0, marks = 0, marksDrawn = 0;
    svgs.forEach(function (svg) {
      var r = svg.getBoundingClientRect();
      var own = svg.querySelectorAll(".mark");
      marks += own.length;
      if (r.width > 0 && r.height > 0) {
        drawn += 1;
        own.forEach(function (m) {
          var b = m.getBoundingClientRect();
          if (b.width > 0 && b.height > 0) { marksDrawn += 1; }
        });
      }
    });
    root.setAttribute("data-matrix-cells", String(matrixCells));
    root.setAttribute("data-matrix-width", String(Math.round(box.width)));
    root.setAttribute("data-timelines", String(svgs.length));
    root.setAttribute("data-timelines-drawn", String(drawn));
    root.setAttribute("data-timeline-marks", String(marks));
    root.setAttribute("data-timeline-marks-drawn", String(marksDrawn));
    var ok = box.width > 0 && box.height > 0 && matrixCells > 0 && drawn > 0 && marksDrawn > 0;
    root.setAttribute("data-rendered", ok ? "ok" : "incomplete");
  }
  check();
  window.addEventListener("load", check);
})();
