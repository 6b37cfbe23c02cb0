// "code name" labels at each grid's visual centre, decluttered in the browser
// (gisgrid/maps/grid_map.py, _GridLabels, which sends one compact array of rows).
//
// Each row carries the grid's area and the radius of the largest circle inside it, in
// metres; after every zoom or move the labels are placed by priority and those whose box
// would overlap one already placed are hidden:
//   1. street/town labels that fit inside their grid (box within that circle): always shown,
//      such boxes lie inside their own grids and grids do not overlap;
//   2. community/village labels that fit: moved inside their circle if the spot is taken,
//      hidden only while no free spot exists;
//   3. other street/town labels, larger grids first.
// Community/village labels that do not fit are not shown: they come with closer zooms.
// Employer clusters and points are placed first, as obstacles: a label never covers a count.
// Grids of the level shown whose label found no spot are named in the legend's key.
(function (G) {
  "use strict";

  var GAP = 3, MARGIN = 120, MINOR_RADIUS = 18, KEY_ROWS = 12;
  var SPOTS = [[0, -1], [0, 1], [-1, 0], [1, 0],
               [-0.7, -0.7], [0.7, -0.7], [-0.7, 0.7], [0.7, 0.7]];

  function metresPerPixel(lat, zoom) {
    return 40075016.686 * Math.cos(lat * Math.PI / 180) / Math.pow(2, zoom + 8);
  }

  function boxAt(item, dx, dy) {
    var x = item.at.x + dx, y = item.at.y + dy, w = item.w / 2 + GAP, h = item.h / 2 + GAP;
    return [x - w, y - h, x + w, y + h];
  }

  function free(box, placed) {
    for (var i = 0; i < placed.length; i++) {
      var o = placed[i];
      if (box[0] < o[2] && o[0] < box[2] && box[1] < o[3] && o[1] < box[3]) { return false; }
    }
    return true;
  }

  // The offset (dx, dy) in pixels where `item` goes without overlapping `placed` (its box
  // is then added to `placed`), or null when there is no free spot.
  function place(item, placed) {
    var offsets = [[0, 0]], reach = [];
    if (item.radiusPx <= 0) {
      if (!free(boxAt(item, 0, 0), placed)) { return null; }
      placed.push(boxAt(item, 0, 0));
      return [0, 0];
    }
    if (item.fits) {
      // Moving the box by at most `slack` keeps it inside the circle, so inside the grid.
      var slack = item.radiusPx - item.halfDiagonal;
      reach.push(slack, slack / 2);
    }
    reach.forEach(function (d) {
      if (d >= 4) { SPOTS.forEach(function (s) { offsets.push([s[0] * d, s[1] * d]); }); }
    });
    // Out of the clusters' way: rings of spots around the anchor, nearest first, as far as
    // the centre stays inside the grid (its inscribed circle, or a third of the side of a
    // compact grid of its area).
    var far = Math.max(item.radiusPx, item.sidePx / 3);
    for (var r = 6; r <= far && offsets.length < 400; r += 6) {
      var n = Math.max(8, Math.round(2 * Math.PI * r / 10));
      for (var k = 0; k < n; k++) {
        offsets.push([r * Math.cos(2 * Math.PI * k / n), r * Math.sin(2 * Math.PI * k / n)]);
      }
    }
    for (var i = 0; i < offsets.length; i++) {
      var box = boxAt(item, offsets[i][0], offsets[i][1]);
      if (free(box, placed)) { placed.push(box); return offsets[i]; }
    }
    return null;
  }

  // Exposed for tests of the placement rules (tests/maps/test_map_js.py).
  G.labelPlacement = {boxAt: boxAt, free: free, place: place, metresPerPixel: metresPerPixel};

  // labels: [lat, lon, "code name", area m², inscribed radius m, minor (community/village)]
  G.gridLabels = function (map, group, labels) {
    var items = labels.map(function (row) {
      var text = document.createElement("div");
      text.className = row[5] ? "gg-label-text gg-label-minor" : "gg-label-text";
      text.textContent = row[2];
      var marker = L.marker([row[0], row[1]], {
        icon: L.divIcon({className: "gg-label", html: text, iconSize: null}),
        pane: "gg-labels", interactive: false, keyboard: false
      }).addTo(group);
      return {latlng: marker.getLatLng(), text: text, area: row[3], radius: row[4], minor: row[5]};
    });
    items.sort(function (a, b) { return a.minor - b.minor || b.area - a.area; });

    // Employer clusters and points already on the map: labels never go over them (a label
    // hid the count of its cluster), so they are placed first.
    function obstacles() {
      var origin = map.getContainer().getBoundingClientRect(), boxes = [];
      var found = map.getContainer().querySelectorAll(
        ".leaflet-marker-pane .gg-cluster, .leaflet-gg-employers-pane path.leaflet-interactive");
      for (var i = 0; i < found.length; i++) {
        var r = found[i].getBoundingClientRect();
        if (r.width > 0) {
          boxes.push([r.left - origin.left - GAP, r.top - origin.top - GAP,
                      r.right - origin.left + GAP, r.bottom - origin.top + GAP]);
        }
      }
      return boxes;
    }

    // Grids of the level shown whose label found no free spot are named in the legend's
    // key instead ("未能标注"): no grid of the level goes unnamed.
    function listMissing(missing) {
      var key = document.querySelector(".gg-label-key");
      if (!key) { return; }
      var list = key.querySelector(".gg-label-key-list");
      list.textContent = "";
      // Every street/town, and communities/villages up to KEY_ROWS.
      var majors = missing.filter(function (item) { return !item.minor; }).length;
      var listed = missing.slice(0, Math.max(majors, KEY_ROWS));
      listed.forEach(function (item) {
        var row = list.appendChild(document.createElement("div"));
        row.textContent = item.text.textContent;
      });
      if (missing.length > listed.length) {
        list.appendChild(document.createElement("div")).textContent =
          "等 " + missing.length + " 个（放大地图查看）";
      }
      key.classList.toggle("gg-label-key-empty", !missing.length);
    }

    function declutter() {
      if (!map.hasLayer(group)) { listMissing([]); return; }
      var zoom = map.getZoom(), size = map.getSize();
      // Read every size and position first, write afterwards: one layout per pass.
      var ranked = items.filter(function (item) {
        item.w = item.text.offsetWidth;
        item.h = item.text.offsetHeight;
        item.at = map.latLngToContainerPoint(item.latlng);
        item.halfDiagonal = Math.sqrt(item.w * item.w + item.h * item.h) / 2;
        item.radiusPx = item.radius / metresPerPixel(item.latlng.lat, zoom);
        item.sidePx = Math.sqrt(item.area) / metresPerPixel(item.latlng.lat, zoom);
        item.fits = item.w > 0 && item.radiusPx >= item.halfDiagonal;
        // A community/village too small for its label is of the level shown once the grid
        // is a few label heights across; before that it waits for a closer zoom.
        item.shownLevel = !item.minor || item.fits || item.radiusPx >= MINOR_RADIUS;
        item.tier = item.fits ? item.minor : 2 + item.minor;
        item.offset = null;
        item.inView = item.at.x > 0 && item.at.x < size.x && item.at.y > 0 && item.at.y < size.y;
        return item.w > 0 && item.shownLevel
          && item.at.x > -MARGIN && item.at.x < size.x + MARGIN
          && item.at.y > -MARGIN && item.at.y < size.y + MARGIN;
      });
      // Array.prototype.sort is stable: within a tier, larger grids stay first.
      ranked.sort(function (a, b) { return a.tier - b.tier; });
      var placed = obstacles();
      ranked.forEach(function (item) { item.offset = place(item, placed); });
      items.forEach(function (item) {
        var shown = item.offset !== null;
        item.text.classList.toggle("gg-label-hidden", !shown);
        item.text.style.marginLeft = shown && item.offset[0] ? item.offset[0] + "px" : "";
        item.text.style.marginTop = shown && item.offset[1] ? item.offset[1] + "px" : "";
      });
      // A community/village is missed only once its grid is large on screen: at city zoom
      // hundreds of villages wait for closer zooms and would bury the key.
      listMissing(ranked.filter(function (item) {
        return item.offset === null && item.inView && (!item.minor || item.radiusPx >= 2 * MINOR_RADIUS);
      }).sort(function (a, b) { return a.minor - b.minor; }));  // streets/towns first
    }

    var pending = false;
    function schedule() {
      if (pending) { return; }
      pending = true;
      L.Util.requestAnimFrame(function () { pending = false; declutter(); });
    }
    map.on("zoomend moveend resize", schedule);
    group.on("add remove", schedule);
    // Clusters come and go after the employers arrive and after every zoom animation: place
    // the labels again whenever the marker pane changes.
    if (window.MutationObserver) {
      var panes = [map.getPane("markerPane"), map.getPane("gg-employers")];
      var watch = new MutationObserver(schedule);
      panes.forEach(function (pane) { if (pane) { watch.observe(pane, {childList: true, subtree: true}); } });
    }
    if (document.fonts && document.fonts.ready) { document.fonts.ready.then(schedule); }
    return group;
  };
})(window.gisgridMap = window.gisgridMap || {});
