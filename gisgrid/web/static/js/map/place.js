// One employer on its page's map (gisgrid/maps/grid_map.py, _Highlight and _PlaceControl):
// the place marked prominently, and manual placement (人工标注): click the map, confirm,
// POST the point as CGCS2000 lon/lat with the page's CSRF token, reload.
// Built from DOM nodes with listeners, never markup with handlers: it runs under the app's
// Content-Security-Policy.
(function (G) {
  "use strict";

  // A blue ring above everything and its label beside it (label: text, shown as text).
  G.highlight = function (map, at, label) {
    map.createPane("gg-highlight").style.zIndex = 640;
    L.circleMarker(at, {pane: "gg-highlight", radius: 11, color: "#0d47a1", weight: 4,
                        fillColor: "#ffffff", fillOpacity: 0.35, interactive: false}).addTo(map);
    var text = document.createElement("span");
    text.textContent = label;
    L.circleMarker(at, {pane: "gg-highlight", radius: 3, color: "#0d47a1", weight: 1,
                        fillColor: "#0d47a1", fillOpacity: 1}).addTo(map)
      .bindTooltip(text, {permanent: true, direction: "right", offset: [12, 0],
                          className: "gg-highlight-label"});
  };

  function postJson(url, body) {
    var token = document.querySelector('meta[name="csrf-token"]');
    return fetch(url, {method: "POST", credentials: "same-origin",
                       headers: {"Content-Type": "application/json", "Accept": "application/json",
                                 "X-CSRFToken": token ? token.content : ""},
                       body: JSON.stringify(body)})
      .then(function (r) {
        return r.json().then(function (answer) {
          if (!r.ok) { throw new Error(answer.message || ("服务器返回错误 " + r.status)); }
          return answer;
        }, function () { throw new Error("服务器返回错误 " + r.status); });
      }, function () { throw new Error("网络连接失败，请稍后重试"); });
  }

  G.placeControl = function (map, url) {
    var active = false, marker = null;
    var control = L.control({position: "topleft"});
    control.onAdd = function () {
      var box = L.DomUtil.create("div", "gg-place leaflet-bar");
      var button = L.DomUtil.create("button", "gg-place-button", box);
      button.type = "button";
      button.textContent = "在地图上标注位置";
      L.DomEvent.disableClickPropagation(box);
      button.addEventListener("click", function () {
        active = !active;
        button.classList.toggle("gg-place-active", active);
        button.textContent = active ? "请在地图上点击单位位置（再点此取消）" : "在地图上标注位置";
        map.getContainer().style.cursor = active ? "crosshair" : "";
      });
      return box;
    };
    control.addTo(map);

    function form(latlng) {
      var box = document.createElement("div");
      box.className = "gg-place-form";
      var where = document.createElement("div");
      where.textContent = "经度 " + latlng.lng.toFixed(6) + "，纬度 " + latlng.lat.toFixed(6) + "（CGCS2000）";
      var label = document.createElement("div");
      label.textContent = "标注人：当前登录账号（记入审计日志）";
      var ok = document.createElement("button");
      ok.type = "button";
      ok.textContent = "确认标注";
      var message = document.createElement("div");
      message.className = "gg-place-message";
      ok.addEventListener("click", function () {
        ok.disabled = true;
        message.textContent = "正在保存…";
        postJson(url, {lon: latlng.lng, lat: latlng.lat, crs: "CGCS2000"})
          .then(function () { message.textContent = "已保存，正在刷新…"; window.location.reload(); })
          .catch(function (error) { ok.disabled = false; message.textContent = "保存失败：" + error.message; });
      });
      box.appendChild(where);
      box.appendChild(label);
      box.appendChild(ok);
      box.appendChild(message);
      return box;
    }

    map.on("click", function (e) {
      if (!active) { return; }
      if (marker) { map.removeLayer(marker); }
      marker = L.circleMarker(e.latlng, {radius: 8, color: "#c62828", weight: 3, fillColor: "#fff",
                                         fillOpacity: 0.6}).addTo(map);
      L.popup({maxWidth: 320, closeOnClick: false}).setLatLng(e.latlng).setContent(form(e.latlng)).openOn(map);
    });
  };
})(window.gisgridMap = window.gisgridMap || {});
