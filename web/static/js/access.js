/* The access page: live what-if of party-mass service centres, in plain Leaflet.
 *
 * gmAccess(state) — the state comes from web.access_map.page_state: the existing centres (the
 * scenario the page starts from), the stored planned/candidate ones, every building of the
 * region with its stored access, the stored KPIs, labels, API URLs and the names of the folium
 * layers to work on.
 *
 * The planner drags a centre, adds one ("添加服务站", then a click on the map) or removes one
 * (its popup); each change posts the whole centre list to /api/access/whatif and the answer
 * recolours the buildings, redraws the building → centre lines and updates the KPI panel and
 * the centre table. Nothing is stored, except by "保存为规划服务站" (POST /api/centers).
 */
(function () {
  "use strict";

  var U = window.gmUtil, esc = U.esc, fmt = U.fmt, int = U.int, pct = U.pct;

  function dig(obj, path) {
    return path.split(".").reduce(function (o, k) { return o == null ? null : o[k]; }, obj);
  }

  function init(S) {
    var T = S.labels;
    var map = window[S.layers.map];
    var buildingLayer = window[S.layers.buildings];
    var groups = {centers: window[S.layers.centers], radius: window[S.layers.radius],
                  lines: window[S.layers.lines], others: window[S.layers.others]};
    var isoLayers = Object.keys(S.layers.isochrones).map(function (k) {
      return window[S.layers.isochrones[k]];
    });
    var mapEl = document.getElementById("gm-acc-map");
    var ui = {
      mode: document.getElementById("gm-acc-mode"),
      add: document.getElementById("gm-add-center"),
      level: document.getElementById("gm-add-level"),
      reset: document.getElementById("gm-reset"),
      changes: document.getElementById("gm-changes"),
      timing: document.getElementById("gm-timing"),
      error: document.getElementById("gm-error"),
      removed: document.getElementById("gm-removed"),
      table: document.querySelector("#gm-center-table tbody"),
      hint: document.getElementById("gm-placing-hint"),
      unreachable: document.getElementById("gm-unreachable"),
    };

    // --- centres -------------------------------------------------------------------------------
    var nextKey = 1;
    var newCount = 0;

    function makeCentre(c, kind) {
      return {key: "c" + (nextKey++), id: kind === "existing" ? c.id : null, name: c.name,
              level: c.level, status: c.status || "existing", lon: c.lon, lat: c.lat, radius_m: c.radius_m,
              shown: c.shown !== false, kind: kind,
              origin: kind === "existing" ? [c.lon, c.lat] : null,
              saved: null, source: null, number: null, residents: 0, within: 0, marker: null,
              circle: null};
    }

    var initial = S.centers.map(function (c) { return makeCentre(c, "existing"); });
    var byId = {};
    initial.forEach(function (c) { byId[c.id] = c; });
    var scenario = initial.slice();
    var removed = [];

    function moved(c) {
      return c.origin !== null && (Math.abs(c.lon - c.origin[0]) > 1e-9
                                   || Math.abs(c.lat - c.origin[1]) > 1e-9);
    }
    function changed(c) { return c.kind === "new" || moved(c); }
    function radius(c) { return c.radius_m || S.norm_radius[c.level]; }
    function inScenario(c) { return scenario.indexOf(c) >= 0; }
    function canSave(c) {
      // a stored planned/candidate centre is saved already; others once per position
      if (c.source || !changed(c)) { return false; }
      return !c.saved || c.saved.lon !== c.lon || c.saved.lat !== c.lat;
    }
    function kindText(c) {
      if (c.source) { return T["status." + c.source.status] || c.source.status; }
      if (c.saved && !canSave(c)) { return T["access.kind_saved"]; }
      if (c.kind === "new") { return T["access.kind_new"]; }
      if (moved(c)) { return T["access.kind_moved"]; }
      // a planned centre serves in the view with the plan
      return c.status === "planned" ? T["status.planned"] : T["access.kind_existing"];
    }

    function icon(c) {
      var level = S.levels[c.level] || {icon_color: "gray"};
      var name = c.kind === "existing" ? (moved(c) ? "arrows-up-down-left-right"
                                                   : S.status_icons[c.status]
                                                     || S.status_icons.existing)
        : (c.saved || c.source ? S.status_icons.planned : "plus");
      return L.AwesomeMarkers.icon({icon: name, prefix: "fa", markerColor: level.icon_color,
                                    iconColor: "white"});
    }

    // the icon element is remade on each add and setIcon: label it for the table and the tests
    function decorate(c) {
      var el = c.marker && c.marker._icon;
      if (!el) { return; }
      el.dataset.center = c.key;
      el.title = c.name;
      if (c.id !== null) { el.dataset.centerId = c.id; }
      el.classList.toggle("gm-changed", changed(c));
    }

    function circleStyle(c) {
      var color = (S.levels[c.level] || {color: "#888888"}).color;
      // outlines only, but for a centre of the what-if: many circles overlap
      return {color: color, weight: changed(c) ? 2 : 1, opacity: changed(c) ? 0.9 : 0.6,
              fill: changed(c), fillColor: color, fillOpacity: 0.06,
              dashArray: changed(c) ? "6 5" : null};
    }

    function refreshCentre(c) {
      if (!c.marker) { return; }
      c.marker.setIcon(icon(c));
      decorate(c);
      c.circle.setLatLng([c.lat, c.lon]);
      c.circle.setRadius(radius(c));
      c.circle.setStyle(circleStyle(c));
    }

    function drawCentre(c) {
      if (c.marker) { return; }
      var marker = L.marker([c.lat, c.lon], {draggable: true, icon: icon(c), title: c.name,
                                             riseOnHover: true, autoPan: true});
      marker.on("add", function () { decorate(c); });
      marker.bindPopup(function () { return popupHtml(c); }, {minWidth: 230, maxWidth: 320});
      marker.on("popupopen", function () { showIsochrones(c); });
      marker.on("popupclose", hideIsochrones);
      marker.on("dragstart", function () { marker.closePopup(); hideIsochrones(); });
      marker.on("drag", function () {
        var at = marker.getLatLng();
        c.lat = at.lat;
        c.lon = at.lng;
        c.circle.setLatLng(at);
        schedule(120);
      });
      marker.on("dragend", function () {
        var at = marker.getLatLng();
        c.lat = at.lat;
        c.lon = at.lng;
        refreshCentre(c);
        schedule(0);
      });
      c.circle = L.circle([c.lat, c.lon], Object.assign(
        {radius: radius(c), interactive: false, pane: "gm-radius"}, circleStyle(c)));
      c.marker = marker;
      c.circle.addTo(groups.radius);
      marker.addTo(groups.centers);
    }

    function undrawCentre(c) {
      if (!c.marker) { return; }
      groups.centers.removeLayer(c.marker);
      groups.radius.removeLayer(c.circle);
      c.marker = null;
      c.circle = null;
    }

    function popupHtml(c) {
      var level = S.levels[c.level] || {label: c.level};
      var rows = [];
      var save = canSave(c);
      if (save) {
        var name = c.kind === "new" ? c.name : fmt(T["access.moved_name"], {name: c.name});
        rows.push("<tr><th>" + esc(T["access.name"]) + "</th><td><input class=\"form-control "
                  + "form-control-sm\" data-field=\"name\" maxlength=\"100\" value=\""
                  + esc(c.planName || name) + "\"></td></tr>");
      }
      if (c.kind === "new" && !c.source && !c.saved) {
        rows.push("<tr><th>" + esc(T["field.level"]) + "</th><td><select class=\"form-select "
                  + "form-select-sm\" data-field=\"level\">" + S.new_levels.map(
                    function (lv) {
                      return "<option value=\"" + esc(lv) + "\"" + (lv === c.level ? " selected"
                        : "") + ">" + esc(S.levels[lv].label) + "</option>";
                    }).join("") + "</select></td></tr>");
      } else {
        rows.push("<tr><th>" + esc(T["field.level"]) + "</th><td>" + esc(level.label)
                  + "</td></tr>");
      }
      rows.push("<tr><th>" + esc(T["field.status"]) + "</th><td>" + esc(kindText(c))
                + "</td></tr>");
      rows.push("<tr><th>" + esc(T["field.radius"]) + "</th><td>" + int(radius(c)) + " "
                + esc(T["unit.m"]) + (c.radius_m ? "" : "（" + esc(T["access.norm"]) + "）")
                + "</td></tr>");
      rows.push("<tr><th>" + esc(T["access.served"]) + "</th><td>" + int(c.residents)
                + "</td></tr>");
      rows.push("<tr><th>" + esc(T["access.served_within"]) + "</th><td>" + int(c.within)
                + "</td></tr>");
      var buttons = [];
      if (save) {
        buttons.push(button("save", "btn-danger", "floppy-disk", T["access.save_planned"]));
      }
      if (moved(c)) {
        buttons.push(button("back", "btn-outline-secondary", "rotate-left",
                            T["access.reset_position"]));
      }
      buttons.push(button("remove", "btn-outline-danger", "trash", T["access.remove"]));
      var saved = c.saved ? "<div class=\"gm-saved\">" + esc(T["access.saved"]) + " #"
        + esc(c.saved.id) + "</div>" : "";
      return "<div class=\"gm-popup gm-cpopup\" data-key=\"" + esc(c.key) + "\">"
        + "<div class=\"gm-popup-title\">" + esc(c.name) + "</div><table>" + rows.join("")
        + "</table>" + saved + "<div class=\"gm-cbuttons\">" + buttons.join("") + "</div>"
        + "<div class=\"gm-cmsg\"></div></div>";
    }

    function button(action, cls, iconName, text) {
      return "<button type=\"button\" class=\"btn btn-sm " + cls + "\" data-action=\"" + action
        + "\"><i class=\"fa-solid fa-" + iconName + "\"></i> " + esc(text) + "</button>";
    }

    function findCentre(key) {
      return scenario.concat(removed).filter(function (c) { return c.key === key; })[0];
    }

    // --- stored planned / candidate centres: shown apart, can join the scenario -----------------
    var others = S.others.map(function (o) {
      var level = S.levels[o.level] || {icon_color: "gray", label: o.level};
      var marker = L.marker([o.lat, o.lon], {
        icon: L.AwesomeMarkers.icon({icon: S.status_icons[o.status] || "circle-question",
                                     prefix: "fa", markerColor: "lightgray",
                                     iconColor: level.icon_color === "orange" ? "#b35c00"
                                       : "#7a1f1f"}),
        title: o.name, opacity: 0.9});
      marker.bindPopup(function () {
        return "<div class=\"gm-popup gm-opopup\" data-other=\"" + esc(o.id) + "\">"
          + "<div class=\"gm-popup-title\">" + esc(o.name) + "</div><table><tr><th>"
          + esc(T["field.level"]) + "</th><td>" + esc(level.label) + "</td></tr><tr><th>"
          + esc(T["field.status"]) + "</th><td>" + esc(T["status." + o.status] || o.status)
          + "</td></tr></table><div class=\"gm-cbuttons\">"
          + button("join", "btn-danger", "plus", T["access.add_to_scenario"]) + "</div></div>";
      });
      marker.addTo(groups.others);
      return {data: o, marker: marker};
    });

    function joinOther(id) {
      var o = others.filter(function (x) { return String(x.data.id) === String(id); })[0];
      if (!o) { return; }
      groups.others.removeLayer(o.marker);
      var c = makeCentre(o.data, "new");
      c.source = {id: o.data.id, status: o.data.status, marker: o.marker};
      scenario.push(c);
      drawCentre(c);
      map.closePopup();
      changedScenario();
    }

    // --- buildings -----------------------------------------------------------------------------
    var B = S.buildings;
    var layerOf = {};
    buildingLayer.eachLayer(function (layer) {
      if (layer.feature) { layerOf[String(layer.feature.id)] = layer; }
    });
    // restyle from the feature's current band (folium's styler only knows the first colours)
    buildingLayer.options.style = function (feature) {
      return Object.assign({}, S.building_style, {
        fillColor: S.colors[feature.properties.style_key] || S.colors.unreachable});
    };
    var stored = {};
    Object.keys(B).forEach(function (id) {
      var b = B[id];
      b.centre = b.center_id != null ? byId[b.center_id] || null : null;
      stored[id] = {centre: b.centre, walk_m: b.walk_m, straight_m: b.straight_m,
                    band: b.band, within: b.within};
    });

    function bandText(key) {
      if (key === "unreachable") { return T["access.band_unreachable"]; }
      if (key === "beyond") { return fmt(T["access.band_beyond"], {band: S.max_band}); }
      return fmt(T["access.band_within"], {band: Number(key).toLocaleString("en-US")});
    }

    function accessHtml(b) {
      if (!b.centre || b.walk_m == null) { return esc(T["access.unreachable"]); }
      return "<span class=\"gm-access\">" + esc(fmt(T["access.popup"], {
        walk: int(b.walk_m), straight: int(b.straight_m), center: b.centre.name})) + "</span>";
    }

    function paintBuildings() {
      Object.keys(B).forEach(function (id) {
        var b = B[id];
        var layer = layerOf[id];
        if (!layer) { return; }
        var p = layer.feature.properties;
        p.style_key = b.band;
        p.access = accessHtml(b);
        p.band = esc(bandText(b.band));
        p.within = b.within ? T["value.yes"] : T["value.no"];
        buildingLayer.resetStyle(layer);
      });
      if (buildingLayer.isPopupOpen && buildingLayer.isPopupOpen()) {
        buildingLayer.getPopup().update();
      }
    }

    function tally() {
      scenario.forEach(function (c) { c.residents = 0; c.within = 0; });
      Object.keys(B).forEach(function (id) {
        var b = B[id];
        if (!b.centre) { return; }
        b.centre.residents += b.residents;
        if (b.walk_m != null && b.walk_m <= radius(b.centre)) { b.centre.within += b.residents; }
      });
      // a centre outside the view of the region that now serves part of it is drawn too
      scenario.forEach(function (c) { if (!c.marker && c.residents > 0) { drawCentre(c); } });
    }

    // --- lines (only the buildings of the region, only near the view) --------------------------
    function drawLines() {
      groups.lines.clearLayers();
      if (!map.hasLayer(groups.lines)) { return; }
      var view = map.getBounds().pad(0.3);
      var segments = {};
      Object.keys(B).forEach(function (id) {
        var b = B[id];
        if (!b.centre || !b.point) { return; }
        var to = [b.centre.lat, b.centre.lon];
        if (!view.contains(b.point) && !view.contains(to)) { return; }
        (segments[b.band] = segments[b.band] || []).push([b.point, to]);
      });
      Object.keys(segments).forEach(function (band) {
        L.polyline(segments[band], {color: S.colors[band] || S.colors.unreachable, weight: 1.3,
                                    opacity: S.line_opacity, interactive: false,
                                    pane: "gm-lines"}).addTo(groups.lines);
      });
    }
    map.on("moveend", drawLines);
    map.on("overlayadd", function (e) { if (e.layer === groups.lines) { drawLines(); } });

    // --- isochrones: the stored ones only hold for centres where they were ---------------------
    function paintIsochrones() {
      isoLayers.forEach(function (group) {
        if (!group) { return; }
        group.eachLayer(function (layer) {
          var c = byId[String(layer.feature.id).split(":")[0]];  // id "<centre>:<band>"
          if (!c || !inScenario(c) || moved(c)) {
            layer.setStyle({opacity: 0, fillOpacity: 0});
          } else {
            group.resetStyle(layer);
          }
        });
      });
    }

    // a centre's own isochrones are drawn, stronger, while its popup is open
    var isoOf = {};
    isoLayers.forEach(function (group) {
      if (!group) { return; }
      group.eachLayer(function (layer) {
        var id = String(layer.feature.id).split(":")[0];
        (isoOf[id] = isoOf[id] || []).push(layer.feature);
      });
    });
    var focusIso = null;
    function showIsochrones(c) {
      hideIsochrones();
      if (c.id === null || moved(c) || !isoOf[c.id]) { return; }
      focusIso = L.geoJSON(isoOf[c.id], {pane: "gm-iso", interactive: false, style: function (f) {
        var band = String(f.id).split(":")[1];
        var color = S.colors[String(Number(band))] || "#555555";
        return {color: color, weight: 2, opacity: 0.9, fillColor: color, fillOpacity: 0.12};
      }}).addTo(map);
    }
    function hideIsochrones() {
      if (focusIso) { map.removeLayer(focusIso); focusIso = null; }
    }

    // --- KPI panel and centre table ------------------------------------------------------------
    function paintKpis(k) {
      document.querySelectorAll("#gm-acc-kpis [data-kpi]").forEach(function (cell) {
        var value = dig(k, cell.dataset.kpi);
        var base = dig(S.kpis, cell.dataset.kpi);
        cell.querySelector(".gm-pct").textContent = pct(value);
        cell.querySelector(".gm-bar > span").style.width = ((value || 0) * 100).toFixed(1) + "%";
        var delta = cell.querySelector(".gm-delta");
        var diff = value == null || base == null ? 0 : Math.round((value - base) * 1000) / 10;
        delta.textContent = diff ? (diff > 0 ? "+" : "−") + Math.abs(diff).toFixed(1) : "";
        delta.className = "gm-delta" + (diff > 0 ? " gm-up" : diff < 0 ? " gm-down" : "");
        cell.title = int(dig(k, cell.dataset.count)) + " / " + int(k.residents);
      });
      document.querySelectorAll("#gm-acc-kpis [data-kpi-count]").forEach(function (el) {
        var key = el.dataset.kpiCount;
        var diff = (k[key] || 0) - (S.kpis[key] || 0);
        el.textContent = int(k[key]) + (key === "residents_unreachable" && diff
          ? " (" + (diff > 0 ? "+" : "−") + int(Math.abs(diff)) + ")" : "");
      });
      ui.unreachable.classList.toggle("gm-bad", k.residents_unreachable > 0);
    }

    function paintTable() {
      var rows = scenario.filter(function (c) { return c.marker; }).sort(function (a, b) {
        return b.residents - a.residents || a.name.localeCompare(b.name);
      });
      ui.table.innerHTML = rows.map(function (c) {
        var level = S.levels[c.level] || {color: "#888888", label: c.level};
        var tag = changed(c) ? " <span class=\"badge text-bg-warning\">" + esc(kindText(c))
          + "</span>" : "";
        return "<tr data-key=\"" + esc(c.key) + "\"><td><span class=\"gm-dot\" style=\"background:"
          + esc(level.color) + "\"></span>" + esc(c.name) + tag + "</td><td class=\"text-end\">"
          + int(c.residents) + "</td><td class=\"text-end\">" + int(c.within) + "</td></tr>";
      }).join("");
    }
    ui.table.addEventListener("click", function (e) {
      var row = e.target.closest("tr[data-key]");
      var c = row && findCentre(row.dataset.key);
      if (c && c.marker) {
        map.setView(c.marker.getLatLng(), Math.max(map.getZoom(), 16), {animate: false});
        c.marker.openPopup();
      }
    });

    function paintScenario() {
      var added = scenario.filter(function (c) { return c.kind === "new"; }).length;
      var shifted = scenario.filter(moved).length;
      var dirty = added + shifted + removed.length > 0;
      ui.changes.textContent = dirty ? fmt(T["access.changes"], {
        added: added, moved: shifted, removed: removed.length}) : T["access.no_changes"];
      ui.mode.textContent = dirty ? T["access.status_scenario"] : T["access.status_stored"];
      ui.mode.className = "badge gm-mode " + (dirty ? "text-bg-warning" : "text-bg-secondary");
      ui.reset.disabled = !dirty;
      ui.removed.innerHTML = removed.length ? "<span class=\"gm-label\">"
        + esc(T["access.removed_list"]) + "</span>" + removed.map(function (c) {
          return "<span class=\"gm-chip\">" + esc(c.name) + " <button type=\"button\" "
            + "class=\"btn btn-link btn-sm p-0\" data-restore=\"" + esc(c.key) + "\">"
            + esc(T["access.restore"]) + "</button></span>";
        }).join("") : "";
    }

    function paintAll(kpis) {
      tally();
      paintBuildings();
      drawLines();
      paintIsochrones();
      paintKpis(kpis);
      paintTable();
      paintScenario();
      scenario.forEach(function (c) {
        if (c.marker && c.marker.isPopupOpen()) {
          var el = c.marker.getPopup().getElement();
          if (!el || !el.contains(document.activeElement)) { c.marker.getPopup().update(); }
        }
      });
    }

    // --- what-if requests: one in flight; changes meanwhile are sent when it returns -----------
    var inflight = false;
    var pending = false;
    var timer = null;

    function dirty() {
      return removed.length > 0 || scenario.some(changed);
    }

    function schedule(delay) {
      pending = true;
      if (timer !== null) { return; }
      timer = window.setTimeout(function () { timer = null; flush(); }, delay || 0);
    }

    function flush() {
      if (inflight || !pending) { return; }
      pending = false;
      if (!dirty()) {  // back to the stored centres: the stored results, no request
        Object.keys(B).forEach(function (id) { Object.assign(B[id], stored[id]); });
        ui.timing.textContent = "";
        showError(null);
        paintAll(S.kpis);
        return;
      }
      var sent = scenario.slice();
      var body = {region: S.region, centers: sent.map(function (c) {
        return {id: c.id, name: c.name, level: c.level, lon: c.lon, lat: c.lat,
                radius_m: c.radius_m};
      })};
      var started = performance.now();
      inflight = true;
      ui.timing.textContent = T["access.evaluating"];
      fetch(S.urls.whatif, {method: "POST", body: JSON.stringify(body),
                            headers: {"Content-Type": "application/json",
                                      "Accept": "application/json"}})
        .then(function (response) {
          return response.json().then(function (json) {
            if (!response.ok) { throw new Error(json.error || response.statusText); }
            return json;
          });
        })
        .then(function (answer) {
          apply(sent, answer);
          ui.timing.textContent = fmt(T["access.in_ms"],
                                      {ms: Math.round(performance.now() - started)});
          showError(null);
        })
        .catch(function (err) {
          ui.timing.textContent = "";
          showError(T["access.failed"] + T["punct.colon"] + err.message);
        })
        .then(function () {
          inflight = false;
          if (pending) { flush(); }
        });
    }

    function apply(sent, answer) {
      var byRef = {};
      sent.forEach(function (c, i) { byRef[c.id !== null ? c.id : -(i + 1)] = c; });
      answer.buildings.forEach(function (row) {
        var b = B[String(row.id)];
        if (!b) { return; }
        b.centre = row.center_id != null ? byRef[row.center_id] || null : null;
        b.walk_m = row.walk_m;
        b.straight_m = row.straight_m;
        b.within = row.within_radius_walk;
        b.band = !b.centre || row.walk_m == null ? "unreachable"
          : row.walk_band_m == null ? "beyond" : String(row.walk_band_m);
      });
      paintAll(answer.kpis);
      window.gmAccessLast = answer;  // for the browser tests and the console
    }

    function showError(text) {
      ui.error.hidden = !text;
      ui.error.textContent = text || "";
    }

    // --- actions -------------------------------------------------------------------------------
    function changedScenario() {
      paintScenario();
      paintTable();
      schedule(0);
    }

    function remove(c) {
      map.closePopup();
      scenario.splice(scenario.indexOf(c), 1);
      undrawCentre(c);
      if (c.kind === "existing") {
        removed.push(c);
      } else if (c.source) {
        c.source.marker.addTo(groups.others);
      }
      changedScenario();
    }

    function restore(c) {
      removed.splice(removed.indexOf(c), 1);
      c.lon = c.origin[0];
      c.lat = c.origin[1];
      scenario.push(c);
      drawCentre(c);
      changedScenario();
    }

    function back(c) {
      c.lon = c.origin[0];
      c.lat = c.origin[1];
      c.marker.setLatLng([c.lat, c.lon]);
      refreshCentre(c);
      c.marker.closePopup();
      changedScenario();
    }

    function resetAll() {
      map.closePopup();
      scenario.slice().forEach(function (c) {
        if (c.kind !== "new") { return; }
        undrawCentre(c);
        if (c.source) { c.source.marker.addTo(groups.others); }
      });
      removed = [];
      scenario = initial.slice();
      scenario.forEach(function (c) {
        c.lon = c.origin[0];
        c.lat = c.origin[1];
        if (c.marker) {
          c.marker.setLatLng([c.lat, c.lon]);
          refreshCentre(c);
        } else if (c.shown) {
          drawCentre(c);
        }
      });
      changedScenario();
    }

    function save(c, popupEl) {
      var input = popupEl.querySelector("[data-field=name]");
      var name = (input ? input.value : c.name).trim();
      var msg = popupEl.querySelector(".gm-cmsg");
      var payload = {name: name, level: c.level, lon: c.lon, lat: c.lat, status: "planned"};
      if (c.radius_m) { payload.radius_m = c.radius_m; }
      var at = {lon: c.lon, lat: c.lat};
      msg.textContent = "…";
      fetch(S.urls.centers, {method: "POST", body: JSON.stringify(payload),
                             headers: {"Content-Type": "application/json",
                                       "Accept": "application/json"}})
        .then(function (response) {
          return response.json().then(function (json) {
            if (!response.ok) { throw new Error(json.error || response.statusText); }
            return json;
          });
        })
        .then(function (center) {
          c.saved = {id: center.id, status: center.status, lon: at.lon, lat: at.lat};
          if (c.kind === "new") { c.name = center.name; }
          c.planName = null;
          refreshCentre(c);
          paintTable();
          if (c.marker && c.marker.isPopupOpen()) { c.marker.getPopup().update(); }
        })
        .catch(function (err) {
          msg.textContent = T["access.save_failed"] + T["punct.colon"] + err.message;
        });
    }

    // popup buttons and fields (popups are rebuilt on update: listen on the document)
    document.addEventListener("click", function (e) {
      var btn = e.target.closest(".leaflet-popup [data-action]");
      if (!btn) { return; }
      if (btn.dataset.action === "join") {
        joinOther(btn.closest("[data-other]").dataset.other);
        return;
      }
      var box = btn.closest("[data-key]");
      var c = box && findCentre(box.dataset.key);
      if (!c) { return; }
      if (btn.dataset.action === "remove") { remove(c); }
      if (btn.dataset.action === "back") { back(c); }
      if (btn.dataset.action === "save") { save(c, box); }
    });
    document.addEventListener("change", function (e) {
      var field = e.target.closest(".leaflet-popup [data-field]");
      var box = field && field.closest("[data-key]");
      var c = box && findCentre(box.dataset.key);
      if (!c) { return; }
      if (field.dataset.field === "name") {
        if (c.kind === "new" && !c.saved) {
          c.name = field.value.trim() || c.name;
          c.number = null;  // named by the planner: no longer follows its level
        } else {
          c.planName = field.value.trim() || null;
        }
        paintTable();
      }
      if (field.dataset.field === "level") {
        c.level = field.value;
        if (c.number) { c.name = newName(c.level, c.number); }
        refreshCentre(c);
        if (c.marker && c.marker.isPopupOpen()) { c.marker.getPopup().update(); }
        paintTable();
        schedule(0);
      }
    });
    ui.removed.addEventListener("click", function (e) {
      var btn = e.target.closest("[data-restore]");
      var c = btn && findCentre(btn.dataset.restore);
      if (c) { restore(c); }
    });
    ui.reset.addEventListener("click", resetAll);

    function newName(level, n) {
      return fmt(T["access.new_name"], {level: S.levels[level].label, n: n});
    }

    // adding: the next click on the map places a centre of the chosen level
    var placing = false;
    function setPlacing(on) {
      placing = on;
      mapEl.classList.toggle("gm-placing", on);
      ui.hint.hidden = !on;
      ui.add.classList.toggle("active", on);
    }
    ui.add.addEventListener("click", function () { setPlacing(!placing); });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && placing) { setPlacing(false); }
    });
    map.on("click", function (e) {
      if (!placing) { return; }
      setPlacing(false);
      map.closePopup();
      newCount += 1;
      var level = ui.level.value;
      var c = makeCentre({id: null, level: level, lon: e.latlng.lng, lat: e.latlng.lat,
                          radius_m: null, name: newName(level, newCount)}, "new");
      c.number = newCount;
      scenario.push(c);
      drawCentre(c);
      changedScenario();
    });

    // "计入规划服务站": the page of the other view
    var plan = document.getElementById("gm-plan-toggle");
    if (plan) {
      plan.addEventListener("change", function () { window.location.href = plan.dataset.url; });
    }

    // --- start ---------------------------------------------------------------------------------
    initial.forEach(function (c) { if (c.shown) { drawCentre(c); } });
    paintAll(S.kpis);
    // for the browser tests and the console
    window.gmAccessState = {scenario: function () { return scenario; },
                            removed: function () { return removed; }, map: map,
                            buildings: buildingLayer, colors: S.colors};
  }

  window.gmAccess = init;
}());
