/* The coverage page: a click on a row of the gap table zooms the map to that gap and opens its
 * popup; a popup opened on the map marks its row; "recompute" reruns the engine and reloads.
 *
 * gmCoverage({map: "map_<id>", layers: {kind: "geo_json_<id>", ...}}) — the folium globals.
 */
(function () {
  "use strict";

  function init(options) {
    var map = window[options.map];
    var groups = {};
    Object.keys(options.layers || {}).forEach(function (kind) {
      groups[kind] = window[options.layers[kind]];
    });
    var table = document.getElementById("gm-gap-table");
    var rows = table ? Array.prototype.slice.call(table.querySelectorAll("tbody tr")) : [];

    function find(id, kind) {
      var group = groups[kind];
      var hit = null;
      if (group) {
        group.eachLayer(function (layer) {
          if (layer.feature && String(layer.feature.id) === String(id)) { hit = layer; }
        });
      }
      return {group: group, layer: hit};
    }

    function mark(id, scroll) {
      rows.forEach(function (row) {
        var on = row.dataset.gap === String(id);
        row.classList.toggle("table-active", on);
        if (on && scroll) { row.scrollIntoView({block: "nearest"}); }
      });
    }

    function show(id, kind) {
      var found = find(id, kind);
      if (!found.layer) { return false; }
      if (!map.hasLayer(found.group)) { map.addLayer(found.group); }  // the control follows
      var bounds = found.layer.getBounds ? found.layer.getBounds()
        : L.latLngBounds([found.layer.getLatLng()]);
      map.fitBounds(bounds, {animate: false, maxZoom: 18, padding: [40, 40]});
      var at = found.layer.getCenter ? found.layer.getCenter() : bounds.getCenter();
      // the popup is bound to the GeoJSON group: a propagated click opens it for this feature
      found.layer.fire("click", {latlng: at}, true);
      found.group.closeTooltip();  // a click opens the hover tooltip too
      mark(id, false);
      return true;
    }

    rows.forEach(function (row) {
      row.addEventListener("click", function () { show(row.dataset.gap, row.dataset.kind); });
    });
    Object.keys(groups).forEach(function (kind) {
      groups[kind].on("popupopen", function (e) {
        var source = e.popup && e.popup._source;
        if (source && source.feature) { mark(source.feature.id, true); }
      });
    });

    var button = document.getElementById("gm-recompute");
    if (button) {
      button.addEventListener("click", function () {
        var label = button.innerHTML;
        button.disabled = true;
        button.textContent = button.dataset.busy;
        fetch(button.dataset.url, {method: "POST", headers: {"Accept": "application/json"}})
          .then(function (response) {
            if (!response.ok) { throw new Error(response.status + " " + response.statusText); }
            window.location.reload();
          })
          .catch(function (err) {
            button.disabled = false;
            button.innerHTML = label;
            window.alert(button.dataset.failed + ": " + err.message);
          });
      });
    }
    // "计入规划服务站": the page of the other view
    var plan = document.getElementById("gm-plan-toggle");
    if (plan) {
      plan.addEventListener("change", function () { window.location.href = plan.dataset.url; });
    }
    window.gmCoverageShow = show;  // for the browser tests and the console
  }

  window.gmCoverage = init;
}());
