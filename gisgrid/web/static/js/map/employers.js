// Employers on the grid maps (gisgrid/maps/grid_map.py): clustered GeoJSON for small sets,
// Leaflet.VectorGrid tiles for large ones, one popup for both. `levels` is the risk levels as
// the page sends them: {"0": {label, colour, cls}, …, "unrated": {…}}.
(function (G) {
  "use strict";

  function esc(value) {
    return String(value == null ? "" : value).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  G.esc = esc;

  // One employer's popup: the summary and a link to the employer's own page (一企一档), by
  // credit code, or by id without one. pageUrl: the page URL with {key}, or null (no link).
  function employerPopup(p, risk, pageUrl) {
    var key = p.credit_code || (p.id != null ? String(p.id) : "");
    var link = !pageUrl || !key ? "" : '<div class="gg-popup-link"><a href="'
      + esc(pageUrl.replace("{key}", encodeURIComponent(key))) + '">查看一企一档 ›</a></div>';
    return '<table class="gg-popup">'
      + '<tr><th>单位名称</th><td>' + esc(p.name) + '</td></tr>'
      + '<tr><th>统一社会信用代码</th><td>' + esc(p.credit_code) + '</td></tr>'
      + '<tr><th>网格</th><td>' + esc(p.grid_code) + ' ' + esc(p.grid_name) + '</td></tr>'
      + '<tr><th>风险等级</th><td><span class="gg-swatch ' + risk.cls + '"></span>'
      + esc(risk.label) + '</td></tr></table>' + link;
  }
  G.employerPopup = employerPopup;

  function notify(map, text) {
    var box = L.control({position: "topright"});
    box.onAdd = function () {
      var div = L.DomUtil.create("div", "gg-notice");
      div.textContent = text;
      return div;
    };
    box.addTo(map);
  }

  // A cluster is a ring split into the shares of each risk level (worst first, clockwise from
  // the top) around a white disc with the number of employers. Colouring it by the worst level
  // alone turned nearly every cluster red: a few high-risk employers are in almost any group
  // of twenty. The diameter grows with log10(count), so a cluster of 6,000 is not ten times one
  // of 60 and the count stays readable at every zoom.
  // order: [[level, label, colour], …] clockwise from twelve o'clock (unrated is level -1).
  G.clusterIcon = function (order) {
    return function (cluster) {
      var counts = {};
      var markers = cluster.getAllChildMarkers();
      for (var i = 0; i < markers.length; i++) {
        var level = markers[i].options.riskLevel;
        level = level == null ? -1 : level;
        counts[level] = (counts[level] || 0) + 1;
      }
      var total = markers.length, at = 0, stops = [], title = [];
      order.forEach(function (risk) {
        var n = counts[risk[0]] || 0;
        if (!n) { return; }
        var end = at + 360 * n / total;
        stops.push(risk[2] + " " + at.toFixed(1) + "deg " + end.toFixed(1) + "deg");
        title.push(risk[1] + " " + n);
        at = end;
      });
      var size = Math.round(Math.min(64, 28 + 9 * Math.log(total) / Math.LN10));
      var ringWidth = Math.max(5, Math.round(size * 0.17));
      // Elements with styles set through the DOM, not markup with style attributes: the app's
      // Content-Security-Policy allows no inline style attributes.
      var ring = document.createElement("div");
      ring.className = "gg-donut";
      ring.title = title.join("，");
      ring.style.background = "conic-gradient(" + stops.join(", ") + ")";
      var count = ring.appendChild(document.createElement("span"));
      count.style.inset = ringWidth + "px";
      count.style.fontSize = (size < 40 ? 11 : 13) + "px";
      count.textContent = total;
      return L.divIcon({html: ring, className: "gg-cluster", iconSize: L.point(size, size)});
    };
  };

  // Wider clusters while a street is small on screen: with a ring every 50 px no grid label
  // found a free spot on the city map (they must not cover the counts).
  G.clusterRadius = function (zoom) { return zoom <= 14 ? 100 : zoom <= 15 ? 80 : 60; };

  // Fetch employers as GeoJSON and add them to the cluster layer.
  G.employerLoader = function (map, cluster, url, levels, pageUrl) {
    function levelOf(p) {
      var key = p.risk_level == null ? "" : String(p.risk_level);
      return Object.prototype.hasOwnProperty.call(levels, key) && key !== "unrated" ? Number(key) : -1;
    }
    function popupHtml(p) {
      var level = levelOf(p);
      return employerPopup(p, levels[level < 0 ? "unrated" : String(level)], pageUrl);
    }
    cluster.on("click", function (e) {
      L.popup({maxWidth: 360}).setLatLng(e.layer.getLatLng())
        .setContent(popupHtml(e.layer.feature.properties || {})).openOn(map);
    });
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/geo+json, application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (collection) {
        var markers = [];
        (collection.features || []).forEach(function (feature) {
          var g = feature.geometry;
          if (!g || g.type !== "Point" || !g.coordinates) { return; }
          var level = levelOf(feature.properties || {});
          var marker = L.circleMarker([g.coordinates[1], g.coordinates[0]], {
            radius: 5, color: "#ffffff", weight: 1.5, fillOpacity: 0.95,
            fillColor: levels[level < 0 ? "unrated" : String(level)].colour,
            riskLevel: level, pane: "gg-employers"
          });
          marker.feature = feature;
          markers.push(marker);
        });
        cluster.addLayers(markers);
      })
      .catch(function (error) {
        console.error("gisgrid: employers", url, error);
        notify(map, "用人单位数据加载失败，请刷新页面重试。");
      });
  };

  // Leaflet.VectorGrid 1.3.0 calls L.DomEvent.fakeStop on click, which Leaflet 1.8 removed:
  // without this shim every click on a tile feature throws. Same body as Leaflet 1.7's. And
  // Leaflet 1.9 places the event at the clicked layer's getLatLng(), which VectorGrid's points
  // leave undefined (a TypeError): lend them the click position for that one event.
  function shimVectorGrid() {
    if (!L.DomEvent.fakeStop) { L.DomEvent.fakeStop = function (e) { e._stopped = true; }; }
    if (L.Canvas.Tile && !L.Canvas.Tile.prototype._ggPatched) {
      L.Canvas.Tile.prototype._ggPatched = true;
      var click = L.Canvas.Tile.prototype._onClick;
      L.Canvas.Tile.prototype._onClick = function (e) {
        var at = this._map.mouseEventToLatLng(e), lent = [];
        for (var id in this._layers) {
          if (!this._layers[id]._latlng) { this._layers[id]._latlng = at; lent.push(this._layers[id]); }
        }
        try { return click.call(this, e); }
        finally { lent.forEach(function (layer) { delete layer._latlng; }); }
      };
    }
  }

  // Employers as vector tiles (canvas), for large sets. Raw tiles (zoom ≥ 13) hold one point
  // per employer, coloured by risk level, with the same popup as the clustered layer; below, a
  // point per 4-pixel cell sized by its count and coloured by the riskiest level that makes up
  // at least a fifth of it. Returns the layer, added to the map when `show`.
  G.employerTiles = function (map, url, levels, pageUrl, show) {
    shimVectorGrid();
    function risk(level) {
      var key = level == null ? "unrated" : String(level);
      return levels[key] || levels.unrated;
    }
    function cellLevel(p) {
      var order = [[3, p.r3], [2, p.r2], [1, p.r1], [0, p.r0]];
      for (var i = 0; i < order.length; i++) {
        if (order[i][1] && order[i][1] * 5 >= p.count) { return order[i][0]; }
      }
      return p.unrated * 2 >= p.count ? null : 0;
    }
    function style(p, zoom) {
      if (p.count == null) {
        // Raw points: small while a street holds thousands of them, so the grid boundaries
        // and labels stay readable; full size from zoom 16 on.
        var r = zoom >= 16 ? 5 : zoom >= 15 ? 4 : 3;
        return {radius: r, fill: true, fillOpacity: 0.9, fillColor: risk(p.risk_level).colour,
                color: "#ffffff", weight: r > 3 ? 1.5 : 0.8};
      }
      var radius = Math.min(10, 3 + 2.2 * Math.log(p.count) / Math.LN10);
      return {radius: radius, fill: true, fillOpacity: 0.85, fillColor: risk(cellLevel(p)).colour,
              color: "#ffffff", weight: 1};
    }
    function popupHtml(p) {
      if (p.count != null) {
        var rows = [[3, p.r3], [2, p.r2], [1, p.r1], [0, p.r0], [null, p.unrated]];
        return '<table class="gg-popup"><tr><th>用人单位</th><td>' + p.count + ' 家</td></tr>'
          + rows.filter(function (r) { return r[1]; }).map(function (r) {
            var k = risk(r[0]);
            return '<tr><th><span class="gg-swatch ' + k.cls + '"></span>'
              + esc(k.label) + '</th><td>' + r[1] + '</td></tr>';
          }).join("") + '</table><div class="gg-legend-note gg-legend-note-wide">放大到 13 级以上查看各单位</div>';
      }
      return employerPopup(p, risk(p.risk_level), pageUrl);
    }
    var layer = L.vectorGrid.protobuf(url, {
      rendererFactory: L.canvas.tile,
      interactive: true,
      pane: "gg-employers",
      maxNativeZoom: 18,
      vectorTileLayerStyles: {employers: function (p, zoom) { return style(p, zoom); }},
      attribution: ""
    });
    layer.on("click", function (e) {
      // VectorGrid's canvas tiles fire clicks without a latlng.
      var at = e.latlng || map.mouseEventToLatLng(e.originalEvent);
      L.popup({maxWidth: 360}).setLatLng(at).setContent(popupHtml(e.layer.properties || {})).openOn(map);
    });
    if (show) { layer.addTo(map); }
    return layer;
  };
})(window.gisgridMap = window.gisgridMap || {});
