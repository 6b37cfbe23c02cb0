// 网格统计 (/stats): click a column head to sort the table by it, again to reverse. Rows sort
// in the browser, without a page reload; the totals row (tfoot) stays at the bottom. Each
// cell carries its value in data-value (empty: no data, always sorted last).
(function () {
  "use strict";

  var table = document.getElementById("stats-table");
  if (!table) { return; }
  var heads = table.querySelectorAll("thead tr.heads th");
  var body = table.tBodies[0];
  var collator = new Intl.Collator("zh-CN", { numeric: true });

  function key(row, index, kind) {
    var value = row.cells[index].getAttribute("data-value");
    if (value === null || value === "") { return null; }
    return kind === "number" ? parseFloat(value) : value;
  }

  function compare(a, b, kind) {
    if (a === null) { return b === null ? 0 : 1; }
    if (b === null) { return -1; }
    return kind === "number" ? a - b : collator.compare(a, b);
  }

  function sortBy(index) {
    var head = heads[index];
    var kind = head.getAttribute("data-sort");
    // Numbers start largest first (the grids that need attention); text A to Z.
    var current = head.getAttribute("aria-sort");
    var ascending = current ? current !== "ascending" : kind !== "number";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var ka = key(a, index, kind), kb = key(b, index, kind);
      if (ka === null || kb === null) { return compare(ka, kb, kind); }
      var order = compare(ka, kb, kind);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
    head.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  Array.prototype.forEach.call(heads, function (head, index) {
    var button = head.querySelector("button");
    if (button) {
      button.addEventListener("click", function () { sortBy(index); });
    }
  });
}());
