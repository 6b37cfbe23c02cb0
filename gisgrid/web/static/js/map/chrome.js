// Title, legend, indicator selector and scale bar of the grid maps (gisgrid/maps/grid_map.py,
// _MapChrome, which renders them as HTML with ids prefix + "_title", "_legend", "_selector").
(function (G) {
  "use strict";

  var KEY = "gisgrid.legend.collapsed";

  // The legend folds to its title (remembered in localStorage), and folds by itself while a
  // popup is open, its corner then drawn below the map: it never covers a popup.
  function legendToggle(map, legend, title) {
    if (!legend) { return; }
    var button = legend.querySelector(".gg-legend-toggle");
    var corner = legend.parentNode, byPopup = false;
    function stored() { try { return localStorage.getItem(KEY) === "1"; } catch (e) { return false; } }
    function show(collapsed) {
      legend.classList.toggle("gg-legend-collapsed", collapsed);
      button.textContent = collapsed ? "展开" : "收起";
      button.title = collapsed ? "展开图例" : "收起图例";
      button.setAttribute("aria-expanded", collapsed ? "false" : "true");
    }
    button.addEventListener("click", function () {
      var collapsed = !legend.classList.contains("gg-legend-collapsed");
      byPopup = false;
      try { localStorage.setItem(KEY, collapsed ? "1" : "0"); } catch (e) { /* private mode */ }
      show(collapsed);
    });
    map.on("popupopen", function () {
      byPopup = !legend.classList.contains("gg-legend-collapsed");
      show(true);
      if (corner) { corner.classList.add("gg-under-popup"); }
    });
    map.on("popupclose", function () {
      if (corner) { corner.classList.remove("gg-under-popup"); }
      if (byPopup) { byPopup = false; show(stored()); }
    });
    show(stored());
    // The legend sits bottom-left and grows upwards: on a short map (a page with a table under
    // it) it must stop below the title and the zoom buttons, and scroll.
    var body = legend.querySelector(".gg-legend-body");
    function fit() {
      var top = title ? title.getBoundingClientRect().bottom - map.getContainer().getBoundingClientRect().top : 90;
      if (body) { body.style.maxHeight = Math.max(60, map.getSize().y - top - 70) + "px"; }
    }
    map.on("resize", fit);
    fit();
  }

  function place(map, element, position) {
    if (!element) { return; }
    var control = L.control({position: position});
    control.onAdd = function () {
      L.DomEvent.disableClickPropagation(element);
      L.DomEvent.disableScrollPropagation(element);
      return element;
    };
    control.addTo(map);
  }

  G.chrome = function (map, prefix) {
    var title = document.getElementById(prefix + "_title");
    var legend = document.getElementById(prefix + "_legend");
    var form = document.getElementById(prefix + "_selector");
    place(map, title, "topleft");
    place(map, legend, "bottomleft");
    legendToggle(map, legend, title);
    place(map, form, "topright");
    if (form) {
      // Reload on choice; the button stays for keyboards and scripts off.
      Array.prototype.forEach.call(form.querySelectorAll("select"), function (select) {
        select.addEventListener("change", function () { form.submit(); });
      });
    }
    L.control.scale({imperial: false, position: "bottomright"}).addTo(map);
    // Leaflet's default prefix is a link to its website, with a flag: plain text on an intranet
    // page, where nothing may point off the server.
    if (map.attributionControl) { map.attributionControl.setPrefix("Leaflet"); }
  };
})(window.gisgridMap = window.gisgridMap || {});
