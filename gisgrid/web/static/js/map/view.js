// The grid maps' first view (gisgrid/maps/grid_map.py, _InitialView).
//
// Fit the first view without animation, before any layer is added, and follow resizes.
// folium creates the map at zoom_start and fits the bounds last, so Leaflet animated that
// first zoom (a community page jumps four levels, 2^4 = 16 times). Every SVG renderer is
// scaled 16-fold by CSS during the animation and leaflet.css keeps will-change: transform on
// those SVGs for good: Chromium then keeps rasterising them at that scale, runs out of tile
// memory and leaves most of the map blank grey. Fitting first, with animate: false, means the
// first drawing is already at the final zoom (map.css limits will-change to zoom animations
// for the zooms people make later). A ResizeObserver keeps Leaflet's idea of the size in step
// with the container, re-fitting while the person has not moved the map yet.
(function (G) {
  "use strict";

  G.initialView = function (map, bounds, padding) {
    var moved = false, fitting = false;
    function fit() {
      if (!bounds) { return; }
      fitting = true;
      map.fitBounds(bounds, {padding: padding, animate: false});
      fitting = false;
    }
    fit();
    map.on("zoomstart movestart", function () { moved = moved || !fitting; });
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        var before = map.getSize();
        map.invalidateSize();  // keeps the centre, like Leaflet on window resizes
        if (!moved && !before.equals(map.getSize())) { fit(); }
      }).observe(map.getContainer());
    }
  };
})(window.gisgridMap = window.gisgridMap || {});
