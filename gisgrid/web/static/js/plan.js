// 规划编辑 (/plan/<generation>): a draft's streets and communities on a Leaflet map, edited
// through the edit API (gisgrid/web/boundaries_api.py), with the workload balance beside it.
//
// The page passes data only (the JSON block #plan-config: the generation and the URLs). Every
// edit is a request to the server, which checks the coverage and the versions and either saves
// it or refuses it; this module never changes a boundary by itself. Each saved edit goes on the
// session's undo stack with its inverse edit (also sent to the API): a move moves the unit back
// under its old code, a split is undone by merging the parts, a merge of two grids by splitting
// along their old shared edge, a reshape by giving the grids that lost area their old boundary.
// Locks live in this browser (localStorage): a locked grid is not sent in any edit.
(function () {
  "use strict";

  const configNode = document.getElementById("plan-config");
  if (!configNode || typeof L === "undefined") { return; }
  const cfg = JSON.parse(configNode.textContent);
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const $ = (id) => document.getElementById(id);
  const PALETTE = ["#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69",
                   "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f"];
  // Deviation classes (share of the target): under-loaded blue, balanced white, over-loaded red.
  const LOAD_CLASSES = [[-Infinity, -0.3, "#2166ac", "低于目标 30% 以上"], [-0.3, -0.1, "#67a9cf", "低 10–30%"],
                        [-0.1, 0.1, "#f7f7f7", "相差 10% 以内"], [0.1, 0.3, "#ef8a62", "高 10–30%"],
                        [0.3, Infinity, "#b2182b", "高于目标 30% 以上"]];
  const FLAG_TEXT = {over_capacity: "超承载", understaffed: "缺人员", not_contiguous: "不连续", empty: "无单位"};

  const state = {
    features: {}, vertices: {}, balance: {}, selected: [], mode: "select",
    level: cfg.areaLevel, colour: "grid", undo: [], redo: [], busy: false, locked: new Set(), lockInfo: {},
    touched: [], editing: null, pending: null,
  };

  const map = L.map("plan-map", { attributionControl: false, zoomSnap: 0.25 });
  map.pm.setLang("zh");
  map.pm.setGlobalOptions({ snappable: true, snapDistance: 12, allowSelfIntersection: false });
  const areaLayer = L.geoJSON(null, { style: areaStyle, onEachFeature: bind, pmIgnore: false }).addTo(map);
  const unitLayer = L.geoJSON(null, { style: unitStyle, onEachFeature: bind, pmIgnore: false }).addTo(map);
  const problemLayer = L.layerGroup().addTo(map);
  const checkLayer = L.layerGroup().addTo(map);
  const layers = {};
  let legend = null;
  map.on("zoomend", () => labelUnits());
  let fitted = false;

  // A handle for the browser tests and the console (the map and the state; nothing to call).
  window.gisgridPlan = { map: map, state: state, layers: layers };

  // -- data ------------------------------------------------------------------------------

  async function getJson(url) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const data = await r.json().catch(() => ({ message: "服务器的答复无法读取（HTTP " + r.status + "）" }));
    if (!r.ok) { throw new Error(data.message || ("HTTP " + r.status)); }
    return data;
  }

  async function send(method, path, body) {
    const r = await fetch(cfg.apiBase + path, {
      method: method, credentials: "same-origin", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
    });
    const data = await r.json().catch(() => ({ message: "服务器的答复无法读取（HTTP " + r.status + "）" }));
    return { ok: r.ok, status: r.status, data: data };
  }

  async function loadGrids() {
    const data = await getJson(cfg.gridsUrl);
    state.features = {};
    state.vertices = {};
    data.features.forEach((f) => {
      state.features[f.properties.code] = f;
      state.vertices[f.properties.code] = vertexKeys(f.geometry);
    });
    state.selected = state.selected.filter((c) => state.features[c]);
    draw();
  }

  async function loadBalance() {
    const data = await getJson(cfg.balanceUrl);
    state.balance = {};
    data.grids.forEach((row) => { state.balance[row.code] = row; });
    drawBalance();
    restyle();
  }

  async function reload() {
    await loadLocks();
    await loadGrids();
    await loadBalance();
    loadChecks();  // not awaited: a large draft validates for seconds, the editor goes on meanwhile
  }

  // -- checks while drawing -----------------------------------------------------------------
  // The draft's whole validation (gaps, overlaps, grids outside their parent, slivers, codes),
  // fetched after every saved edit and at load, with the balance's not-contiguous and empty
  // grids: listed with "定位" links and drawn on the map. The server refuses an edit that would
  // break the coverage, so this shows what the draft already had and what each edit leaves.
  // Only the latest answer counts (an older, slower one is dropped).
  let checksAsked = 0;
  const CHECK_COLOURS = { error: "#d50000", warning: "#ff6d00" };

  async function loadChecks() {
    const asked = ++checksAsked;
    const section = $("plan-checks");
    if (!section || !cfg.checksUrl) { return; }
    section.querySelector(".checks-summary").textContent = "正在检查整个草稿…";
    let collection;
    try {
      collection = await getJson(cfg.checksUrl);
    } catch (err) {
      if (asked === checksAsked) { section.querySelector(".checks-summary").textContent = "检查未能完成：" + err.message; }
      return;
    }
    if (asked !== checksAsked) { return; }
    drawChecks((collection.features || []).filter((f) => f.geometry));
  }

  function checkItems(features) {
    const items = features.map((f) => {
      const p = f.properties || {};
      return { severity: p.severity === "warning" ? "warning" : "error", text: p.message || "边界问题",
               codes: p.codes || [], bounds: L.geoJSON(f).getBounds(), feature: f };
    });
    Object.keys(state.balance).forEach((code) => {
      const flags = state.balance[code].flags || {};
      if (flags.not_contiguous && state.features[code]) {
        items.push({ severity: "warning", text: label(code) + " 由互不相连的几块组成（不连续）", codes: [code],
                     bounds: L.geoJSON(state.features[code]).getBounds() });
      }
    });
    // Errors first, then warnings; within each, by the first code.
    return items.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === "error" ? -1 : 1)
      || String(a.codes[0] || "").localeCompare(String(b.codes[0] || "")));
  }

  function drawChecks(features) {
    const section = $("plan-checks");
    checkLayer.clearLayers();
    features.forEach((f) => {
      const colour = CHECK_COLOURS[(f.properties || {}).severity] || CHECK_COLOURS.error;
      L.geoJSON(f, {
        pmIgnore: true, snapIgnore: true, interactive: true,
        style: () => ({ color: colour, weight: 2.5, fillColor: colour, fillOpacity: 0.4, dashArray: "6 3" }),
        pointToLayer: (_, ll) => L.circleMarker(ll, { radius: 9, color: colour, weight: 3, fillColor: "#fff",
                                                     fillOpacity: 0.9, pmIgnore: true, snapIgnore: true }),
      }).bindTooltip(document.createTextNode((f.properties || {}).message || "边界问题"), { sticky: true })
        .addTo(checkLayer);
    });
    const items = checkItems(features);
    const list = section.querySelector("ul");
    list.textContent = "";
    const errors = items.filter((i) => i.severity === "error").length;
    section.querySelector(".checks-summary").textContent = items.length
      ? "错误 " + errors + " 处，提示 " + (items.length - errors) + " 处（每次保存后重新检查）"
      : "未发现缝隙、重叠、越界或不连续的网格（每次保存后重新检查）";
    section.classList.toggle("checks-ok", !items.length);
    items.slice(0, 200).forEach((item) => {
      const li = document.createElement("li");
      li.className = "check-" + item.severity;
      li.appendChild(document.createTextNode((item.severity === "error" ? "错误：" : "提示：") + item.text));
      if (item.bounds && item.bounds.isValid()) {
        const a = document.createElement("a");
        a.href = "#"; a.textContent = "定位"; a.className = "zoom-to";
        a.addEventListener("click", (e) => { e.preventDefault(); map.fitBounds(item.bounds, { maxZoom: 17, padding: [40, 40] }); });
        li.appendChild(a);
      }
      list.appendChild(li);
    });
    if (items.length > 200) {
      list.appendChild(document.createElement("li")).textContent = "……另有 " + (items.length - 200) + " 处";
    }
  }

  // -- geometry helpers --------------------------------------------------------------------

  function rings(geometry) {
    if (geometry.type === "Polygon") { return geometry.coordinates; }
    if (geometry.type === "MultiPolygon") { return [].concat.apply([], geometry.coordinates); }
    return [];
  }

  function vertexKeys(geometry) {
    const keys = new Set();
    rings(geometry).forEach((ring) => ring.forEach((p) => keys.add(p[0].toFixed(7) + "," + p[1].toFixed(7))));
    return keys;
  }

  function shared(a, b) {
    const va = state.vertices[a], vb = state.vertices[b];
    if (!va || !vb) { return 0; }
    let n = 0;
    va.forEach((k) => { if (vb.has(k)) { n += 1; } });
    return n;
  }

  function props(code) { return (state.features[code] || {}).properties || {}; }
  function label(code) { const p = props(code); return p.name ? p.name + "（" + code + "）" : code; }

  // Grids of the same level and parent that share at least two vertices with `code`
  // (the demonstration city and the edits keep neighbours' vertices in common).
  function neighbours(code, level) {
    const p = props(code);
    return Object.keys(state.features).filter((c) => {
      const q = props(c);
      return c !== code && q.level === (level || p.level) && shared(code, c) >= 2;
    });
  }

  function ringArea(ring) {
    let a = 0;
    for (let i = 0; i < ring.length - 1; i += 1) { a += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1]; }
    return a / 2;
  }

  function area(geometry) {
    const polys = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
    return polys.reduce((s, poly) => s + Math.abs(ringArea(poly[0])) -
      poly.slice(1).reduce((h, r) => h + Math.abs(ringArea(r)), 0), 0);
  }

  // A point inside a polygon: the middle of the widest stretch of the horizontal line through
  // the middle of its outer ring (a centroid can fall outside a concave grid).
  function interiorPoint(geometry) {
    const poly = geometry.type === "Polygon" ? geometry.coordinates : geometry.coordinates[0];
    const ys = poly[0].map((p) => p[1]);
    const y = (Math.min.apply(null, ys) + Math.max.apply(null, ys)) / 2 + 1e-9;
    const xs = [];
    poly.forEach((ring) => {
      for (let i = 0; i < ring.length - 1; i += 1) {
        const a = ring[i], b = ring[i + 1];
        if ((a[1] <= y) !== (b[1] <= y)) { xs.push(a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1])); }
      }
    });
    xs.sort((a, b) => a - b);
    let best = null;
    for (let i = 0; i + 1 < xs.length; i += 2) {
      if (!best || xs[i + 1] - xs[i] > best[1] - best[0]) { best = [xs[i], xs[i + 1]]; }
    }
    return best ? [(best[0] + best[1]) / 2, y] : poly[0][0];
  }

  // The edge two grids shared (their common segments, chained), each end pushed a little
  // outwards so that the line cuts the merged grid from boundary to boundary.
  function sharedEdge(a, b) {
    const segs = new Set();
    const key = (p) => p[0].toFixed(7) + "," + p[1].toFixed(7);
    rings(b.geometry).forEach((ring) => {
      for (let i = 0; i < ring.length - 1; i += 1) {
        segs.add(key(ring[i]) + "|" + key(ring[i + 1]));
        segs.add(key(ring[i + 1]) + "|" + key(ring[i]));
      }
    });
    const lines = [];
    rings(a.geometry).forEach((ring) => {
      let current = null;
      for (let i = 0; i < ring.length - 1; i += 1) {
        if (segs.has(key(ring[i]) + "|" + key(ring[i + 1]))) {
          if (!current) { current = [ring[i]]; lines.push(current); }
          current.push(ring[i + 1]);
        } else { current = null; }
      }
    });
    if (lines.length > 1) {  // a run that wraps round the ring's start
      const first = lines[0], last = lines[lines.length - 1];
      if (key(last[last.length - 1]) === key(first[0])) { lines[0] = last.concat(first.slice(1)); lines.pop(); }
    }
    const extend = (line) => {
      const push = (p, q) => {
        const dx = p[0] - q[0], dy = p[1] - q[1], d = Math.hypot(dx, dy) || 1;
        return [p[0] + dx / d * 2e-6, p[1] + dy / d * 2e-6];
      };
      return [push(line[0], line[1])].concat(line, [push(line[line.length - 1], line[line.length - 2])]);
    };
    const coords = lines.map(extend);
    if (!coords.length) { return null; }
    return coords.length === 1 ? { type: "LineString", coordinates: coords[0] }
      : { type: "MultiLineString", coordinates: coords };
  }

  // -- drawing -----------------------------------------------------------------------------

  function fillColour(code, balance) {
    if (state.colour === "load") {
      const row = (balance || state.balance)[code];
      if (!row || row.deviation === null || row.deviation === undefined) { return "#cfd8dc"; }
      return LOAD_CLASSES.find((c) => row.deviation >= c[0] && row.deviation < c[1])[2];
    }
    let h = 0;
    for (let i = 0; i < code.length; i += 1) { h = (h * 31 + code.charCodeAt(i)) % 9973; }
    return PALETTE[h % PALETTE.length];
  }

  function areaStyle(feature) {
    const code = feature.properties.code;
    const byArea = state.level === cfg.areaLevel;
    return { color: state.locked.has(code) ? "#5d4037" : "#37474f", weight: 2.5,
             dashArray: state.locked.has(code) ? "6 4" : null,
             fillColor: fillColour(code), fillOpacity: byArea ? 0.65 : 0.35 };
  }

  function unitStyle(feature) {
    const code = feature.properties.code;
    const byUnit = state.level === cfg.unitLevel;
    const selected = state.selected.indexOf(code) >= 0;
    const style = { color: "#607d8b", weight: 0.8, fillColor: byUnit ? fillColour(code) : "#ffffff",
                    fillOpacity: byUnit ? 0.55 : 0.01, dashArray: null };
    if (state.locked.has(code)) { Object.assign(style, { color: "#5d4037", weight: 2, dashArray: "6 4" }); }
    if (state.touched.indexOf(code) >= 0) { Object.assign(style, { color: "#ff6f00", weight: 2.5 }); }
    if (selected) { Object.assign(style, { color: "#0d47a1", weight: 3.5 }); }
    if (state.brush && state.brush.units.indexOf(code) >= 0) {
      Object.assign(style, { color: "#6a1b9a", weight: 3, fillColor: "#ce93d8", fillOpacity: 0.7 });
    }
    return style;
  }

  function highlightAreas() {
    areaLayer.eachLayer((layer) => {
      const code = layer.feature.properties.code;
      if (state.selected.indexOf(code) >= 0) { layer.setStyle({ color: "#0d47a1", weight: 5 }); }
      else if (state.touched.indexOf(code) >= 0) { layer.setStyle({ color: "#ff6f00", weight: 4.5 }); }
    });
  }

  function bind(feature, layer) {
    const p = feature.properties;
    layers[p.code] = layer;
    // No stopPropagation: while a line is drawn, Geoman takes its vertices from the map's clicks.
    layer.on("click", (e) => clicked(p.code, e));
    if (p.level === cfg.unitLevel) {
      layer.on("mousedown", () => brushStroke(p.code, true));
      layer.on("mouseover", () => brushStroke(p.code, false));
    }
    if (p.level === cfg.areaLevel) {
      // Text nodes, never strings: Leaflet puts a string in as HTML, and names come from files and users.
      layer.bindTooltip(document.createTextNode(p.name + (state.locked.has(p.code) ? "（锁定）" : "")),
                        { permanent: true, direction: "center", className: "plan-label" });
    }
  }

  function draw() {
    areaLayer.clearLayers();
    unitLayer.clearLayers();
    Object.keys(layers).forEach((k) => delete layers[k]);
    const all = Object.values(state.features);
    areaLayer.addData(all.filter((f) => f.properties.level === cfg.areaLevel));
    unitLayer.addData(all.filter((f) => f.properties.level === cfg.unitLevel));
    if (!fitted && areaLayer.getLayers().length) {
      map.fitBounds(areaLayer.getBounds(), { padding: [10, 10] });
      fitted = true;
    }
    restyle();
  }

  function restyle() {
    areaLayer.setStyle(areaStyle);
    unitLayer.setStyle(unitStyle);
    highlightAreas();
    drawLegend();
    labelUnits();
  }

  // Communities get a label when they are edited at their level and the map is close enough
  // to read them, and always when an edit just made or changed them.
  function labelUnits() {
    const close = state.level === cfg.unitLevel && map.getZoom() >= 14;
    unitLayer.eachLayer((layer) => {
      const code = layer.feature.properties.code;
      const want = close || state.touched.indexOf(code) >= 0 || state.selected.indexOf(code) >= 0;
      if (want && !layer.getTooltip()) {
        layer.bindTooltip(document.createTextNode(layer.feature.properties.name), { permanent: true, direction: "center",
                                                           className: "plan-label unit" });
      } else if (!want && layer.getTooltip()) {
        layer.unbindTooltip();
      }
    });
  }

  function drawLegend() {
    if (legend) { legend.remove(); legend = null; }
    if (state.colour !== "load") { return; }
    legend = L.control({ position: "bottomright" });
    legend.onAdd = () => {
      const div = L.DomUtil.create("div", "plan-legend leaflet-control");
      const title = document.createElement("strong");
      title.textContent = "工作量偏差（用人单位数对目标）";
      div.appendChild(title);
      LOAD_CLASSES.forEach((c) => {
        const row = document.createElement("div");
        const swatch = document.createElementNS("http://www.w3.org/2000/svg", "svg");
        swatch.setAttribute("width", "14"); swatch.setAttribute("height", "10");
        const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
        rect.setAttribute("width", "14"); rect.setAttribute("height", "10");
        rect.setAttribute("fill", c[2]); rect.setAttribute("stroke", "#555");
        swatch.appendChild(rect);
        row.appendChild(swatch);
        row.appendChild(document.createTextNode(" " + c[3]));
        div.appendChild(row);
      });
      return div;
    };
    legend.addTo(map);
  }

  function drawBalance() {
    const body = $("plan-balance").tBodies[0];
    const rows = Object.values(state.balance).filter((r) => r.level === state.level);
    rows.sort((a, b) => (b.deviation === null ? -Infinity : b.deviation) - (a.deviation === null ? -Infinity : a.deviation)
      || a.code.localeCompare(b.code));
    body.textContent = "";
    rows.forEach((r) => {
      const tr = document.createElement("tr");
      tr.dataset.code = r.code;
      if (state.touched.indexOf(r.code) >= 0) { tr.className = "touched"; }
      const name = document.createElement("td");
      const link = document.createElement("a");
      link.href = "#"; link.textContent = r.name;
      link.title = r.code + "：在地图上定位并选中";
      link.addEventListener("click", (e) => { e.preventDefault(); select([r.code]); zoomTo(r.code); });
      name.appendChild(link);
      tr.appendChild(name);
      const dev = r.deviation === null || r.deviation === undefined ? "—"
        : (r.deviation > 0 ? "+" : "") + Math.round(r.deviation * 100) + "%";
      [r.employers, r.target === null ? "—" : Math.round(r.target), dev, r.coordinators != null ? r.coordinators : (r.staff ? r.staff.coordinator : 0)]
        .forEach((v, i) => {
          const td = document.createElement("td");
          td.className = "num" + (i === 2 && r.deviation >= 0.3 ? " dev-high" : "") +
            (i === 2 && r.deviation <= -0.3 ? " dev-low" : "");
          td.textContent = String(v);
          tr.appendChild(td);
        });
      const flags = document.createElement("td");
      Object.keys(FLAG_TEXT).forEach((f) => {
        if (r.flags && r.flags[f]) {
          const s = document.createElement("span");
          s.className = "flag"; s.textContent = FLAG_TEXT[f];
          flags.appendChild(s);
        }
      });
      tr.appendChild(flags);
      body.appendChild(tr);
    });
    const head = $("plan-balance").previousElementSibling;
    if (head) {
      head.textContent = "工作量平衡（" + (state.level === cfg.areaLevel ? "街道/乡镇" : "社区/村") + "，按偏差排序）";
    }
  }

  function zoomTo(code) {
    const layer = layers[code];
    if (layer) { map.fitBounds(layer.getBounds(), { maxZoom: 15, padding: [40, 40] }); }
  }

  // -- messages ----------------------------------------------------------------------------

  function say(text, kind) {
    const box = $("plan-message");
    box.textContent = "";
    const span = document.createElement("span");
    span.className = kind || "ok";
    span.textContent = text;
    box.appendChild(span);
    return box;
  }

  function hint(text) {
    const box = $("plan-hint");
    if (!box) { return; }
    box.textContent = text || "";
    box.hidden = !text;
  }

  function choice(title, build) {
    const box = $("plan-choice");
    box.textContent = "";
    if (!title) { box.hidden = true; return null; }
    const p = document.createElement("p");
    p.textContent = title;
    box.appendChild(p);
    build(box);
    box.hidden = false;
    return box;
  }

  function button(parent, text, onClick, cls) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = text;
    if (cls) { b.className = cls; }
    b.addEventListener("click", onClick);
    parent.appendChild(b);
    return b;
  }

  function input(parent, labelText, value, name) {
    const l = document.createElement("label");
    l.textContent = labelText + " ";
    const i = document.createElement("input");
    i.type = "text"; i.maxLength = 100; i.value = value; i.name = name;
    l.appendChild(i);
    parent.appendChild(l);
    parent.appendChild(document.createElement("br"));
    return i;
  }

  function showProblems(details) {
    problemLayer.clearLayers();
    const section = $("plan-problems");
    const list = section.querySelector("ul");
    list.textContent = "";
    (details || []).forEach((d) => {
      const li = document.createElement("li");
      li.textContent = d.message + (d.codes && d.codes.length ? "（" + d.codes.join("、") + "）" : "");
      if (d.location) {
        const ll = [d.location[1], d.location[0]];
        // not a snapping target for Geoman, nor editable: it marks, it is not a boundary
        L.circleMarker(ll, { radius: 10, color: "#b71c1c", weight: 3, fillColor: "#ff5252", fillOpacity: 0.5,
                             pmIgnore: true, snapIgnore: true })
          .bindTooltip(document.createTextNode(d.message)).addTo(problemLayer);
        const a = document.createElement("a");
        a.href = "#"; a.textContent = "定位"; a.className = "zoom-to";
        a.addEventListener("click", (e) => { e.preventDefault(); map.setView(ll, 16); });
        li.appendChild(a);
      }
      list.appendChild(li);
    });
    section.hidden = !(details && details.length);
  }

  // -- before / after figure ----------------------------------------------------------------

  function figure(codesBefore, before, codesAfter, balanceBefore) {
    const section = $("plan-figure");
    const body = section.querySelector(".figure-body");
    body.textContent = "";
    const after = codesAfter.map((c) => state.features[c]).filter(Boolean);
    const shapes = before.concat(after);
    if (!shapes.length) { section.hidden = true; return; }
    let minx = Infinity, miny = Infinity, maxx = -Infinity, maxy = -Infinity;
    shapes.forEach((f) => rings(f.geometry).forEach((r) => r.forEach((p) => {
      minx = Math.min(minx, p[0]); maxx = Math.max(maxx, p[0]);
      miny = Math.min(miny, p[1]); maxy = Math.max(maxy, p[1]);
    })));
    const kx = Math.cos((miny + maxy) / 2 * Math.PI / 180);
    const w = (maxx - minx) * kx || 1e-6, h = (maxy - miny) || 1e-6;
    const size = 200, scale = size / Math.max(w, h);
    const panel = (title, features, balance) => {
      const fig = document.createElement("figure");
      const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      svg.setAttribute("viewBox", "-4 -4 " + (w * scale + 8) + " " + (h * scale + 8));
      features.forEach((f) => {
        const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
        const d = rings(f.geometry).map((r) => "M" + r.map((p) =>
          ((p[0] - minx) * kx * scale).toFixed(1) + " " + ((maxy - p[1]) * scale).toFixed(1)).join("L") + "Z").join("");
        path.setAttribute("d", d);
        path.setAttribute("fill", fillColour(f.properties.code, balance));
        path.setAttribute("fill-rule", "evenodd");
        path.setAttribute("stroke", "#263238");
        path.setAttribute("stroke-width", "1.2");
        const t = document.createElementNS("http://www.w3.org/2000/svg", "title");
        t.textContent = f.properties.name;
        path.appendChild(t);
        svg.appendChild(path);
      });
      fig.appendChild(svg);
      const cap = document.createElement("figcaption");
      cap.textContent = title;
      fig.appendChild(cap);
      return fig;
    };
    body.appendChild(panel("编辑前", before, balanceBefore));
    body.appendChild(panel("编辑后", after, state.balance));
    const table = document.createElement("table");
    table.className = "list figure-table";
    const head = document.createElement("tr");
    ["网格", "用人单位（前→后）", "偏差（前→后）"].forEach((t) => {
      const th = document.createElement("th"); th.textContent = t; head.appendChild(th);
    });
    table.appendChild(head);
    const pct = (r) => (r && r.deviation !== null && r.deviation !== undefined
      ? (r.deviation > 0 ? "+" : "") + Math.round(r.deviation * 100) + "%" : "—");
    const codes = Array.from(new Set(codesBefore.concat(codesAfter)));
    codes.forEach((c) => {
      const b = balanceBefore[c], a = state.balance[c];
      const tr = document.createElement("tr");
      [(a || b || {}).name || c, (b ? b.employers : "—") + " → " + (a ? a.employers : "（已删除）"),
       pct(b) + " → " + pct(a)].forEach((t) => {
        const td = document.createElement("td"); td.textContent = String(t); tr.appendChild(td);
      });
      table.appendChild(tr);
    });
    section.hidden = false;
    section.appendChild(table);
    const old = section.querySelectorAll("table");
    for (let i = 0; i < old.length - 1; i += 1) { old[i].remove(); }
  }

  // -- edits -------------------------------------------------------------------------------

  function versionsOf(codes) {
    const out = {};
    codes.forEach((c) => { if (state.features[c]) { out[c] = state.features[c].properties.version; } });
    return out;
  }

  function lockedAmong(codes) { return codes.filter((c) => state.locked.has(c)); }

  function moveEdit(unit, from, to) {
    const e = { label: "划转 " + label(unit) + "：" + label(from) + " → " + label(to), orig: unit, unit: unit,
                from: from, to: to, figure: [from, to] };
    e.forward = () => [{ method: "POST", path: "/grids/" + encodeURIComponent(e.orig) + "/move", locks: [e.orig, e.from, e.to],
      body: () => Object.assign({ to: e.to, versions: versionsOf([e.orig, e.from, e.to]) },
                                e.unit !== e.orig ? { new_code: e.unit } : {}) }];
    e.done = (results) => { e.unit = results[0].unit; };
    e.inverse = () => [{ method: "POST", path: "/grids/" + encodeURIComponent(e.unit) + "/move", locks: [e.unit, e.from, e.to],
      body: () => ({ to: e.from, new_code: e.orig, versions: versionsOf([e.unit, e.from, e.to]) }) }];
    return e;
  }

  function splitEdit(code, line, names) {
    const e = { label: "拆分 " + label(code), code: code, line: line, names: names, codes: null,
                oldName: props(code).name, figure: [code] };
    e.forward = () => [{ method: "POST", path: "/grids/" + encodeURIComponent(code) + "/split", locks: [code],
      body: () => Object.assign({ line: e.line, names: e.names, version: props(code).version },
                                e.codes ? { new_codes: e.codes.slice(1) } : {}) }];
    e.done = (results) => {
      e.codes = results[0].codes;
      e.figure = e.codes.slice();
      // Communities of the cut-off part were renumbered after their new street: undo gives the codes back.
      e.recodes = {};
      Object.entries(results[0].renumbered || {}).forEach(([old, now]) => { e.recodes[now] = old; });
    };
    e.inverse = () => [{ method: "POST", path: "/merge", locks: e.codes,
      body: () => ({ codes: e.codes, name: e.oldName, versions: versionsOf(e.codes), recodes: e.recodes }) }];
    return e;
  }

  function mergeEdit(codes, name) {
    const originals = codes.map((c) => JSON.parse(JSON.stringify(state.features[c])));
    const e = { label: "合并 " + codes.map(label).join("、"), codes: codes.slice().sort(), name: name,
                figure: codes.slice().sort() };
    e.forward = () => [{ method: "POST", path: "/merge", locks: e.codes,
      body: () => ({ codes: e.codes, name: e.name, versions: versionsOf(e.codes) }) }];
    e.done = () => {};
    const steps = unmergeSteps(e.codes, originals);
    if (steps) { e.inverse = () => steps; }
    return e;
  }

  // The inverse of a merge: the merged grid (the lowest code) split again along the old
  // boundaries, one grid peeled off per split — each time one whose going leaves the rest in one
  // piece, cut along its old edges with the rest, given back its code and name. Null when the old
  // grids share no edge to cut along.
  function unmergeSteps(codes, originals) {
    const byCode = {};
    originals.forEach((f) => { byCode[f.properties.code] = f; });
    const keep = byCode[codes[0]], merged = codes[0];
    const touches = (a, b) => sharedEdge(byCode[a], byCode[b]) !== null;
    const connected = (set) => {
      const seen = [set[0]];
      for (let i = 0; i < seen.length; i += 1) {
        set.forEach((c) => { if (seen.indexOf(c) < 0 && touches(seen[i], c)) { seen.push(c); } });
      }
      return seen.length === set.length;
    };
    const steps = [];
    let remaining = codes.slice();
    while (remaining.length > 1) {
      const rest = (c) => remaining.filter((r) => r !== c);
      const gone = remaining.slice(1).reverse().find((c) => connected(rest(c)));
      if (!gone) { return null; }
      const lines = rest(gone).map((r) => sharedEdge(byCode[gone], byCode[r])).filter(Boolean);
      if (!lines.length) { return null; }
      const parts = [].concat.apply([], lines.map((l) => (l.type === "LineString" ? [l.coordinates] : l.coordinates)));
      const line = parts.length === 1 ? { type: "LineString", coordinates: parts[0] }
        : { type: "MultiLineString", coordinates: parts };
      const name = byCode[gone].properties.name;
      steps.push({ method: "POST", path: "/grids/" + encodeURIComponent(merged) + "/split", locks: [merged],
        body: () => ({ line: line, keep_at: interiorPoint(keep.geometry), new_codes: [gone],
                       names: [keep.properties.name, name], version: props(merged).version }) });
      remaining = rest(gone);
    }
    return steps;
  }

  function renameEdit(code, name) {
    const e = { label: "更名 " + label(code) + " → " + name, code: code, name: name, oldName: props(code).name,
                figure: [code] };
    e.forward = () => [{ method: "POST", path: "/grids/" + encodeURIComponent(code) + "/rename", locks: [code],
      body: () => ({ name: e.name, version: props(code).version }) }];
    e.done = () => {};
    e.inverse = () => [{ method: "POST", path: "/grids/" + encodeURIComponent(code) + "/rename", locks: [code],
      body: () => ({ name: e.oldName, version: props(code).version }) }];
    return e;
  }

  function reshapeEdit(code, geometry) {
    // figure: the grid and its neighbours until the answer says which of them changed
    const e = { label: "修改边界 " + label(code), code: code, geometry: geometry, before: {},
                figure: [code].concat(neighbours(code)) };
    neighbours(code).concat([code]).forEach((c) => { e.before[c] = JSON.parse(JSON.stringify(state.features[c])); });
    e.forward = () => [{ method: "PUT", path: "/grids/" + encodeURIComponent(code) + "/geometry",
      locks: [code].concat(neighbours(code)),
      body: () => ({ geometry: e.geometry, version: props(code).version, snap_m: 5 }) }];
    e.done = (results) => { e.changed = results[0].changed; e.figure = e.changed.slice(); };
    // Undo: the grids that lost area take their old boundary back (the others give way). What
    // the 5 m snapping moved besides comes back only within that snapping (tens of m²); giving the
    // reshaped grid its own old boundary as a last step was tried and is refused (a gap).
    e.inverse = () => e.changed.filter((c) => e.before[c] && state.features[c] &&
                                               area(e.before[c].geometry) > area(state.features[c].geometry) * (1 + 1e-9))
      .map((c) => ({ method: "PUT", path: "/grids/" + encodeURIComponent(c) + "/geometry", locks: e.changed,
                     body: () => ({ geometry: e.before[c].geometry, version: props(c).version, snap_m: 0.5 }) }));
    return e;
  }

  // Send the steps one after another; stop at the first refusal. True when all were saved.
  async function run(steps, figureCodes, what) {
    const locked = lockedAmong([].concat.apply([], steps.map((s) => s.locks || [])));
    if (locked.length) {
      say("网格 " + locked.map(label).join("、") + " 已锁定，" + what + "未发送；如需修改请先解锁", "error");
      return null;
    }
    const before = figureCodes.map((c) => state.features[c]).filter(Boolean).map((f) => JSON.parse(JSON.stringify(f)));
    const balanceBefore = Object.assign({}, state.balance);
    const results = [];
    state.busy = true;
    try {
      if (steps.length === 1) {
        const answer = await send(steps[0].method, steps[0].path, steps[0].body());
        if (!answer.ok) { await refused(answer, steps[0], what); return null; }
        results.push(answer.data);
      } else {
        // Several steps (a brush, the undo of a merge of three grids) go as one batch: the server
        // saves them together or not at all, so a refusal half-way leaves nothing half-done.
        const answer = await send("POST", "/edits", { edits: steps.map(batchItem) });
        const all = { locks: [].concat.apply([], steps.map((step) => step.locks || [])) };
        if (!answer.ok) { await refused(answer, all, what); return null; }
        results.push.apply(results, answer.data.edits);
      }
      showProblems([]);
      await reload();
      return { results: results, before: before, balanceBefore: balanceBefore };
    } finally {
      state.busy = false;
    }
  }

  // One step of a multi-step edit as an item of the batch endpoint (POST …/edits).
  function batchItem(step) {
    const m = /^\/grids\/([^/]+)\/(split|move|rename|geometry)$/.exec(step.path);
    const item = Object.assign({}, step.body());
    if (m) { item.edit = m[2]; item.code = decodeURIComponent(m[1]); }
    else if (step.path === "/merge") { item.edit = "merge"; }
    else { throw new Error("no batch form for " + step.method + " " + step.path); }
    return item;
  }

  async function refused(answer, step, what) {
    const data = answer.data || {};
    if (answer.status === 409 && data.error === "Conflict" && /changed by someone else|已被他人修改/.test(data.message || "")) {
      await reload();
      state.touched = step.locks || [];
      restyle();
      const box = say(what + "未保存：" + (step.locks || []).map(label).join("、") +
        " 已被他人修改，已重新读取最新边界（你的编辑记录都还在）。请在最新边界上重新编辑，或点“重试”。", "conflict");
      if (state.retry) { button(box, "重试", () => state.retry()); }
      return;
    }
    if (answer.status === 409 && data.error === "GridLocked") {
      await loadLocks();  // someone else locked it since this page read the locks
      draw();
      say(what + "未保存：" + (data.message || "网格已锁定"), "error");
      return;
    }
    showProblems(data.details || []);
    say(what + "未保存：" + (data.message || ("HTTP " + answer.status)), "error");
  }

  function afterSaved(edit, outcome) {
    edit.done(outcome.results);
    state.touched = edit.figure.slice();
    restyle();
    drawBalance();
    const before = outcome.before.filter((f) => edit.figure.indexOf(f.properties.code) >= 0);
    figure(before.map((f) => f.properties.code), before, edit.figure, outcome.balanceBefore);
  }

  async function apply(edit) {
    if (state.busy) { return; }
    state.retry = () => apply(edit);
    const outcome = await run(edit.forward(), edit.figure, edit.label);
    if (!outcome) {
      if (edit.refused) { edit.refused(); }
      return;
    }
    afterSaved(edit, outcome);
    state.undo.push(edit);
    state.redo = [];
    say("已保存：" + edit.label + "（服务器检查通过）");
    updateUndo();
  }

  async function undo() {
    const edit = state.undo[state.undo.length - 1];
    if (!edit || state.busy) { return; }
    if (!edit.inverse) { say("“" + edit.label + "”无法撤销（合并前的网格之间找不到可沿之拆开的共同边界）", "error"); return; }
    state.retry = undo;
    // The figure shows the grids the edit showed (a moved unit's streets, a split's parts …).
    const codes = edit.figure.slice();
    const outcome = await run(edit.inverse(), codes, "撤销“" + edit.label + "”");
    if (!outcome) { return; }
    state.undo.pop();
    state.redo.push(edit);
    state.touched = codes.filter((c) => state.features[c]);
    restyle();
    drawBalance();
    figure(outcome.before.map((f) => f.properties.code), outcome.before, state.touched, outcome.balanceBefore);
    say("已撤销：" + edit.label);
    updateUndo();
  }

  async function redo() {
    const edit = state.redo[state.redo.length - 1];
    if (!edit || state.busy) { return; }
    state.retry = redo;
    const outcome = await run(edit.forward(), edit.figure, "重做“" + edit.label + "”");
    if (!outcome) { return; }
    state.redo.pop();
    afterSaved(edit, outcome);
    state.undo.push(edit);
    say("已重做：" + edit.label);
    updateUndo();
  }

  function updateUndo() {
    const u = $("undo"), r = $("redo");
    if (u) { u.disabled = !state.undo.length; u.title = state.undo.length ? "撤销：" + state.undo[state.undo.length - 1].label : ""; }
    if (r) { r.disabled = !state.redo.length; r.title = state.redo.length ? "重做：" + state.redo[state.redo.length - 1].label : ""; }
  }

  // -- gestures ----------------------------------------------------------------------------

  function select(codes) {
    state.selected = codes;
    restyle();
    showNeighbours();
  }

  // One grid selected: its neighbours of the same level (sharing an edge), each a link that
  // selects it and zooms to it, with its balance deviation.
  function showNeighbours() {
    const box = $("plan-neighbours");
    if (!box) { return; }
    const code = state.selected.length === 1 ? state.selected[0] : null;
    box.hidden = !code || !state.features[code];
    if (box.hidden) { return; }
    box.querySelector("h2").textContent = "相邻网格：" + label(code);
    const list = box.querySelector("ul");
    list.textContent = "";
    const near = neighbours(code).sort((a, b) => String(props(a).name).localeCompare(String(props(b).name), "zh"));
    near.forEach((c) => {
      const li = list.appendChild(document.createElement("li"));
      const a = li.appendChild(document.createElement("a"));
      a.href = "#"; a.textContent = label(c);
      a.addEventListener("click", (e) => { e.preventDefault(); select([c]); zoomTo(c); });
      const row = state.balance[c];
      if (row && row.deviation != null) {
        li.appendChild(document.createTextNode("（偏差 " + (row.deviation >= 0 ? "+" : "") + Math.round(row.deviation * 100) + "%）"));
      }
      if (props(c).parent_code !== props(code).parent_code) { li.appendChild(document.createTextNode("，属 " + label(props(c).parent_code))); }
    });
    if (!near.length) { list.appendChild(document.createElement("li")).textContent = "无（不与同级网格相邻）"; }
  }

  function target(code) {
    const p = props(code);
    if (p.level === state.level) { return code; }
    return p.level > state.level ? p.parent_code : code;
  }

  function clicked(code, e) {
    if (!cfg.editable || state.editing || state.mode === "brush") { return; }
    if (state.mode === "move") { offerMove(props(code).level === cfg.unitLevel ? code : null); return; }
    const t = target(code);
    if (e.originalEvent && e.originalEvent.shiftKey) {
      const i = state.selected.indexOf(t);
      select(i >= 0 ? state.selected.filter((c) => c !== t) : state.selected.concat([t]));
    } else {
      select(state.selected.length === 1 && state.selected[0] === t ? [] : [t]);
    }
    hint(state.selected.length ? "已选中：" + state.selected.map(label).join("、") : "");
  }

  function offerMove(unit) {
    if (!unit) { hint("请点击一个社区/村"); return; }
    const from = props(unit).parent_code;
    const parent = props(from).parent_code;
    let options = neighbours(unit, cfg.areaLevel).filter((c) => c !== from && props(c).parent_code === parent);
    select([unit]);
    choice("把 " + label(unit) + "（现属 " + label(from) + "）划给：", (box) => {
      if (!options.length) {
        const p = document.createElement("p");
        p.textContent = "它没有相邻的其他街道/乡镇，不能划转。";
        box.appendChild(p);
      }
      options.forEach((to) => button(box, label(to), () => { choice(null); apply(moveEdit(unit, from, to)); }, "move-to"));
      button(box, "取消", () => choice(null));
    });
  }

  // -- brush (刷选划转): paint several communities/villages into one street/town ---------------
  // Select the receiving street/town, press 刷选划转, then press and drag over the units to give
  // it (the map does not pan meanwhile); on release the editor asks once and sends one move per
  // unit, nearest the street first, as one edit: one undo moves them all back.

  function startBrush() {
    if (state.brush) { stopBrush(); say("已退出刷选"); return; }
    const to = state.selected.length === 1 ? target(state.selected[0]) : null;
    if (!to || props(to).level !== cfg.areaLevel) {
      say("请先选中一个接收社区/村的街道/乡镇（编辑层级：街道/乡镇），再点“刷选划转”", "error");
      return;
    }
    if (lockedAmong([to]).length) { say("网格 " + label(to) + " 已锁定，不能接收", "error"); return; }
    state.brush = { to: to, units: [], painting: false };
    state.mode = "brush";
    map.dragging.disable();
    document.querySelectorAll(".plan-tools button[data-tool]").forEach((b) => b.classList.toggle("on", b.dataset.tool === "brush"));
    hint("刷选：按住鼠标拖过要划给 " + label(to) + " 的社区/村，松开后确认（再点“刷选划转”退出）");
  }

  function stopBrush() {
    state.brush = null;
    map.dragging.enable();
    setMode("select");
    restyle();
  }

  function brushStroke(code, starting) {
    const brush = state.brush;
    if (!brush || state.busy) { return; }
    if (starting) { brush.painting = true; }
    if (!brush.painting) { return; }
    const p = props(code);
    if (p.parent_code === brush.to || brush.units.indexOf(code) >= 0) { return; }
    if (props(p.parent_code).parent_code !== props(brush.to).parent_code) { return; }  // another district
    brush.units.push(code);
    unitLayer.setStyle(unitStyle);
  }

  // Units in the order they can move: each borders the street or a unit moved before it.
  function brushOrder(units, to) {
    const order = [], left = units.slice();
    const reached = () => left.findIndex((u) => shared(u, to) >= 2 || order.some((o) => shared(u, o) >= 2));
    let i;
    while ((i = reached()) >= 0) { order.push(left.splice(i, 1)[0]); }
    return { order: order, cut: left };
  }

  function endBrush() {
    const brush = state.brush;
    if (!brush || !brush.painting) { return; }
    brush.painting = false;
    if (!brush.units.length) { return; }
    const plan = brushOrder(brush.units, brush.to);
    choice("把刷选的 " + brush.units.length + " 个社区/村划给 " + label(brush.to) + "：", (box) => {
      const list = document.createElement("p");
      list.textContent = plan.order.map(label).join("、") +
        (plan.cut.length ? "。不与 " + label(brush.to) + " 相连、不能划转：" + plan.cut.map(label).join("、") : "");
      box.appendChild(list);
      if (plan.order.length) {
        button(box, "确定划转 " + plan.order.length + " 个", () => {
          choice(null);
          const to = brush.to;
          brush.units = [];
          apply(brushEdit(plan.order, to));
        }, "confirm");
      }
      button(box, "重新刷选", () => { choice(null); brush.units = []; unitLayer.setStyle(unitStyle); });
    });
  }

  function brushEdit(units, to) {
    const moves = units.map((u) => moveEdit(u, props(u).parent_code, to));
    const figure = [to].concat(moves.map((m) => m.from).filter((c, i, all) => all.indexOf(c) === i));
    const e = { label: "刷选划转 " + units.length + " 个社区/村 → " + label(to), figure: figure };
    e.forward = () => [].concat.apply([], moves.map((m) => m.forward()));
    e.done = (results) => moves.forEach((m, i) => m.done([results[i]]));
    // Back in the reverse order: the last one moved is the one farthest from its old street's reach.
    e.inverse = () => [].concat.apply([], moves.slice().reverse().map((m) => m.inverse()));
    return e;
  }

  document.addEventListener("mouseup", endBrush);

  function needSelection(count, text) {
    const n = state.selected.length;
    if (count === 1 ? n === 1 : n >= count) { return true; }
    say(text, "error");
    return false;
  }

  function startSplit() {
    if (!needSelection(1, "请先点击选中一个要拆分的网格（编辑层级：" + levelText() + "）")) { return; }
    const code = state.selected[0];
    if (lockedAmong([code]).length) { say("网格 " + label(code) + " 已锁定，不能拆分", "error"); return; }
    state.editing = "split";
    hint("拆分 " + label(code) + "：在地图上依次点击，画一条从网格外穿过它到网格外的线；再点一次最后一个点结束");
    map.pm.enableDraw("Line", { snappable: false, templineStyle: { color: "#d50000" }, hintlineStyle: { color: "#d50000", dashArray: "5 5" } });
    const onCreate = (ev) => {
      map.off("pm:create", onCreate);
      const line = ev.layer.toGeoJSON(7).geometry;
      map.removeLayer(ev.layer);
      state.editing = null;
      hint("");
      const name = props(code).name;
      choice("拆分 " + label(code) + "：为两部分命名", (box) => {
        const keep = input(box, "北/西侧（保留编码）", name, "keep-name");
        const other = input(box, "另一部分（新编码）", name + "（分）", "new-name");
        button(box, "确定拆分", () => {
          const names = [keep.value.trim(), other.value.trim()];
          if (!names[0] || !names[1]) { say("两部分都需要名称", "error"); return; }
          choice(null);
          apply(splitEdit(code, line, names));
        }, "confirm");
        button(box, "取消", () => choice(null));
      });
    };
    map.on("pm:create", onCreate);
  }

  function startMerge() {
    if (!needSelection(2, "请按住 Shift 点击选中两个或更多相邻的同级网格，再点“合并所选”")) { return; }
    const codes = state.selected.slice().sort();
    choice("合并 " + codes.map(label).join("、") + "：合并后保留编码 " + codes[0] + "，名称为", (box) => {
      const name = input(box, "名称", props(codes[0]).name, "merge-name");
      button(box, "确定合并", () => {
        if (!name.value.trim()) { say("合并后的网格需要名称", "error"); return; }
        choice(null);
        apply(mergeEdit(codes, name.value.trim()));
      }, "confirm");
      button(box, "取消", () => choice(null));
    });
  }

  function startRename() {
    if (!needSelection(1, "请先点击选中一个要更名的网格")) { return; }
    const code = state.selected[0];
    choice("更名 " + label(code) + "（编码、边界和四定人员不变）", (box) => {
      const name = input(box, "新名称", props(code).name, "rename-name");
      button(box, "确定更名", () => {
        const value = name.value.trim();
        if (!value) { say("新名称不能为空", "error"); return; }
        if (value === props(code).name) { say("名称没有变化", "error"); return; }
        choice(null);
        apply(renameEdit(code, value));
      }, "confirm");
      button(box, "取消", () => choice(null));
      name.focus();
    });
  }

  // `again`: a refused boundary stays on the map, editable, to be fixed and saved or cancelled.
  function startReshape(again) {
    if (!again && !needSelection(1, "请先点击选中一个要修改边界的网格")) { return; }
    const code = again || state.selected[0];
    const locked = lockedAmong([code].concat(neighbours(code)));
    if (locked.length) { say("网格 " + locked.map(label).join("、") + " 已锁定，不能修改这里的边界", "error"); return; }
    const layer = layers[code];
    state.editing = "reshape";
    // Geoman puts back a vertex whose move would make the boundary cross itself (the server would
    // refuse it too, with the reason).
    layer.pm.enable({ snappable: true, snapDistance: 12, allowSelfIntersection: false });
    hint("拖动 " + label(code) + " 的节点修改边界（靠近相邻网格的节点会吸附），完成后点“保存边界”");
    choice((again ? "未保存的边界仍在地图上：修改后再保存，或取消。" : "") + "修改 " + label(code) + " 的边界", (box) => {
      button(box, "保存边界", () => {
        const geometry = layer.toGeoJSON(7).geometry;  // 7 decimals: the stored precision
        layer.pm.disable();
        state.editing = null; hint(""); choice(null);
        const edit = reshapeEdit(code, geometry);
        edit.refused = () => { if (layers[code] === layer) { startReshape(code); } };
        apply(edit);
      }, "confirm");
      button(box, "取消", () => {
        layer.pm.disable();
        state.editing = null; hint(""); choice(null);
        draw();  // the stored boundaries again
      });
    });
  }

  // Locks are the server's (grid_lock): every planner sees them and every edit that would change
  // a locked grid is refused there, whoever sends it. Selected grids all locked: unlock them;
  // otherwise lock them.
  async function toggleLocks() {
    if (!needSelection(1, "请先点击选中要锁定或解锁的网格") && !state.selected.length) { return; }
    if (state.busy) { return; }
    const codes = state.selected.slice();
    const locking = !codes.every((c) => state.locked.has(c));
    state.busy = true;
    try {
      const answer = await send("POST", "/locks", { codes: codes, locked: locking });
      if (!answer.ok) { say((locking ? "锁定" : "解锁") + "未完成：" + (answer.data.message || ("HTTP " + answer.status)), "error"); return; }
      setLocks(answer.data.locks);
      say((locking ? "已锁定：" : "已解锁：") + codes.map(label).join("、") + "。锁定的网格：" +
        (state.locked.size ? Array.from(state.locked).map(label).join("、") : "无"));
    } finally {
      state.busy = false;
    }
    draw();
  }

  function setLocks(locks) {
    state.lockInfo = locks || {};
    state.locked = new Set(Object.keys(state.lockInfo));
  }

  async function loadLocks() {
    const data = await getJson(cfg.apiBase + "/locks");
    setLocks(data.locks);
  }

  function levelText() { return state.level === cfg.areaLevel ? "街道/乡镇" : "社区/村"; }

  function setMode(mode) {
    if (state.brush && mode !== "brush") { state.brush = null; map.dragging.enable(); unitLayer.setStyle(unitStyle); }
    state.mode = mode;
    document.querySelectorAll(".plan-tools button[data-tool]").forEach((b) => {
      b.classList.toggle("on", b.dataset.tool === mode);
    });
    hint(mode === "move" ? "划转：点击一个社区/村，再选择接收它的相邻街道/乡镇" : "");
    choice(null);
  }

  function wire() {
    const form = $("draft-form");
    if (form) {
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const name = form.elements.name.value.trim();
        const answer = await fetch(cfg.draftsUrl, {
          method: "POST", credentials: "same-origin", body: JSON.stringify({ name: name }),
          headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
        });
        const data = await answer.json().catch(() => ({}));
        if (answer.status === 201) {
          window.location.assign(cfg.planUrl.replace("__NAME__", encodeURIComponent(data.generation)));
        } else {
          say("草稿未建立：" + (data.message || ("HTTP " + answer.status)), "error");
        }
      });
    }
    if (!cfg.editable) { return; }
    const actions = { select: () => setMode("select"), move: () => setMode("move"), split: startSplit,
                      merge: startMerge, reshape: startReshape, rename: startRename, lock: toggleLocks,
                      brush: startBrush };
    document.querySelectorAll(".plan-tools button[data-tool]").forEach((b) => {
      b.addEventListener("click", () => actions[b.dataset.tool]());
    });
    $("undo").addEventListener("click", undo);
    $("redo").addEventListener("click", redo);
    $("edit-level").addEventListener("change", (ev) => {
      state.level = parseInt(ev.target.value, 10);
      select([]);
      drawBalance();
    });
    $("colour-by").addEventListener("change", (ev) => { state.colour = ev.target.value; restyle(); });
  }

  wire();
  if (!cfg.editable) {
    const colour = $("colour-by");
    if (colour) { colour.disabled = true; }
  }
  reload().catch((err) => say("读取网格失败：" + err.message, "error"));
}());
