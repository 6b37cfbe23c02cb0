// Boundary validation problems on a grid map (gisgrid/maps/grid_map.py, _ProblemLayer),
// fetched as GeoJSON: problem areas (gaps, overlaps, slivers) hatched over the grids, point
// problems as ringed markers, errors red and warnings orange, the problem in Chinese on hover.
// The legend row (.gg-problems-note) gets the count once the report is in: validating a large
// city takes seconds, so the page does not wait for it.
(function (G) {
  "use strict";

  var COLOURS = {error: "#d50000", warning: "#ff6d00"};

  // titles: the Chinese name of each problem kind (grid_map.PROBLEM_TITLES).
  G.problemLayer = function (map, group, url, titles) {
    function note(text, level) {
      var row = document.querySelector(".gg-problems-note");
      if (!row) { return; }
      row.textContent = text;
      row.className = "gg-problems-note gg-problems-" + level;
    }
    function colourOf(f) { return COLOURS[(f.properties || {}).severity] || COLOURS.error; }
    var layer = L.geoJSON(null, {
      pane: "gg-problems",
      style: function (f) {
        return {color: colourOf(f), weight: 2.5, opacity: 1, fillColor: colourOf(f),
                fillOpacity: 0.45, dashArray: "6 3"};
      },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, {pane: "gg-problems", radius: 9, color: colourOf(f),
                                       weight: 3, fillColor: "#ffffff", fillOpacity: 0.9});
      },
      onEachFeature: function (f, l) {
        var p = f.properties || {};
        var box = document.createElement("div");
        box.className = "gg-problem-tip";
        var head = document.createElement("b");
        head.textContent = (p.severity === "warning" ? "警告" : "错误") + "：" + (p.codes || []).join("、");
        var body = document.createElement("div");
        body.textContent = p.message || ((titles[p.kind] || "边界问题")
          + (p.area_m2 != null ? "，面积约 " + Math.round(p.area_m2) + " 平方米" : ""));
        box.appendChild(head);
        box.appendChild(body);
        l.bindTooltip(box, {sticky: true});
      }
    }).addTo(group);
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/geo+json"}})
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (collection) {
        var features = (collection.features || []).filter(function (f) { return f.geometry; });
        layer.addData(features);
        var errors = features.filter(function (f) { return f.properties.severity !== "warning"; });
        if (!features.length) {
          note("边界检查：未发现问题", "ok");
        } else {
          note("边界问题 " + features.length + " 处（错误 " + errors.length + "，警告 "
               + (features.length - errors.length) + "）", errors.length ? "error" : "warning");
        }
      })
      .catch(function (error) {
        console.error("gisgrid: boundary problems", url, error);
        note("边界检查结果加载失败", "error");
      });
    return group;
  };
})(window.gisgridMap = window.gisgridMap || {});
