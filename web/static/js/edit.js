/* The grid editing page: Leaflet-Geoman wired to the grid editing API (/api/grids…).
 *
 * gmEdit(state) — the state comes from web.edit_map.page_state: the community, the layer being
 * edited, both layers' grids and the buildings as GeoJSON, the household norm, labels, API URLs
 * and the folium layer groups to draw in.
 *
 * Every edit is first a *preview*: the page sends it with ?preview=1 (a reshape: POST
 * /api/grids/<id>/preview) and shows what the server answers — households, residents and
 * buildings of each affected grid before and after, the buildings that change grid, the clipped
 * neighbours and new holes (hatched red on the map) and the coverage KPIs. "保存" sends the same
 * edit for real; "取消" drops it. Saved edits go on an undo stack (kept in sessionStorage, so a
 * reload keeps it): undo restores each grid the edit touched to its version before the edit
 * (POST /restore with the version it is at now), deletes the grids it created and brings back
 * the grids it removed (POST /undelete: same id, code, name and staff); redo sends the edit
 * again. A stale version (409)
 * reloads the grids and says so.
 */
(function () {
  "use strict";

  var U = window.gmUtil, esc = U.esc, fmt = U.fmt, int = U.int, pct = U.pct;
  var UNDO_LIMIT = 30;
  var PREVIEW_DELAY_MS = 250;
  var SNAP = {snappable: true, snapDistance: 14, allowSelfIntersection: false};

  // an element as HTML text; attributes that are null or false are left out, text is escaped
  function h(tag, attrs, inner) {
    var a = Object.keys(attrs || {}).filter(function (k) {
      return attrs[k] != null && attrs[k] !== false;
    }).map(function (k) {
      return attrs[k] === true ? " " + k : " " + k + "=\"" + esc(attrs[k]) + "\"";
    }).join("");
    return "<" + tag + a + ">" + (inner == null ? "" : inner) + "</" + tag + ">";
  }

  function api(method, url, body) {
    var options = {method: method, headers: {"Accept": "application/json"}};
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        return {ok: response.ok, status: response.status, body: json};
      });
    }, function (err) {
      return {ok: false, status: 0, body: {error: String(err)}};
    });
  }

  function init(S) {
    var T = S.labels;
    var map = window[S.layers.map];
    var groups = {grids: window[S.layers.grids], other: window[S.layers.other],
                  buildings: window[S.layers.buildings], preview: window[S.layers.preview]};
    var $ = function (id) { return document.getElementById(id); };
    var ui = {
      selected: $("gm-selected"), message: $("gm-message"), hint: $("gm-mode-hint"),
      status: $("gm-status"), what: $("gm-preview-what"), body: $("gm-preview-body"),
      keep: $("gm-keep"), save: $("gm-save"), cancel: $("gm-cancel"), timing: $("gm-timing"),
      undo: $("gm-undo"), redo: $("gm-redo"), undoNote: $("gm-undo-note"),
      historyCard: $("gm-history-card"), historyTitle: $("gm-history-title"),
      historyRows: document.querySelector("#gm-history-table tbody"),
      gridRows: document.querySelector("#gm-grid-table tbody"),
    };
    var colors = S.colors;
    var layerColor = colors.layers[S.layer];
    var dash = S.layer === "party" ? colors.party_dash : null;

    var grids = {};       // id → {feature, layer}: the grids of the edited layer
    var others = {};      // id → feature: the other layer's grids
    var buildings = {};   // id → {feature, layer}
    var selected = null;  // id of the selected grid
    var mode = null;      // "draw", "split", "merge" while the map waits for the planner
    var pending = null;   // the edit being previewed
    var temp = null;      // a drawn polygon or line the pending edit is made of
    var previewSeq = 0;
    var previewTimer = null;
    var busy = false;

    map.pm.setLang(S.lang === "zh" ? "zh" : "en");
    map.pm.setGlobalOptions(SNAP);

    // --- drawing the data --------------------------------------------------------------------
    function gridStyle(id) {
      var on = id === selected;
      return {color: on ? "#111111" : layerColor, weight: on ? 3.5 : 2, dashArray: on ? "6 4" : dash,
              fillColor: layerColor, fillOpacity: on ? 0.16 : 0.07, className: "gm-grid"};
    }

    function offNorm(p) {
      return p.households < S.norms.households_min || p.households > S.norms.households_max;
    }

    function drawGrid(feature) {
      var id = feature.properties.id;
      var layer = L.geoJSON(feature, {style: function () { return gridStyle(id); }})
        .getLayers()[0];
      layer.bindTooltip(esc(feature.properties.name) + "<br>" + fmt(T["edit.households_short"],
        {n: int(feature.properties.households)}), {sticky: true, className: "gm-grid-tip"});
      layer.on("click", function (e) { L.DomEvent.stop(e); onGridClick(id); });
      groups.grids.addLayer(layer);
      grids[id] = {feature: feature, layer: layer};
    }

    function drawGrids(fc) {
      Object.keys(grids).forEach(function (id) {
        grids[id].layer.pm.disable();
        groups.grids.removeLayer(grids[id].layer);
      });
      grids = {};
      others = {};
      groups.other.clearLayers();
      fc.features.forEach(function (f) {
        if (f.properties.layer === S.layer) {
          drawGrid(f);
        } else {
          others[f.properties.id] = f;
          groups.other.addLayer(L.geoJSON(f, {
            pane: "gm-other", interactive: false, pmIgnore: true, snapIgnore: false,
            style: {color: colors.layers[S.other], weight: 1.5, opacity: 0.55, fill: false,
                    dashArray: S.other === "party" ? colors.party_dash : "3 3"}}).getLayers()[0]);
        }
      });
      fillGridTable();
    }

    function buildingStyle(f, moved) {
      return {color: moved ? colors.preview.moved : "#5a4a3a", weight: moved ? 3 : 0.6,
              fillColor: colors.kinds[f.properties.kind] || colors.kinds.other,
              fillOpacity: moved ? 0.95 : 0.55};
    }

    S.buildings.features.forEach(function (f) {
      var layer = L.geoJSON(f, {pane: "gm-buildings", interactive: false, pmIgnore: true,
                                snapIgnore: true, style: function () { return buildingStyle(f); }})
        .getLayers()[0];
      groups.buildings.addLayer(layer);
      if (f.properties.households) {  // the household count, centred on the footprint
        groups.buildings.addLayer(L.marker(layer.getBounds().getCenter(), {
          pane: "gm-labels", interactive: false, keyboard: false, pmIgnore: true,
          snapIgnore: true,
          icon: L.divIcon({className: "gm-hh", iconSize: null,
                           html: h("span", {}, int(f.properties.households))})}));
      }
      buildings[f.properties.id] = {feature: f, layer: layer};
    });

    function allGrid(id) {
      return grids[id] ? grids[id].feature : others[id] || null;
    }

    function version(id) {
      var f = allGrid(id);
      return f ? f.properties.version : null;
    }

    function codeOf(id, fallback) {
      var f = allGrid(id);
      return f ? f.properties.code : fallback || ("#" + id);
    }

    function reload() {
      return api("GET", S.urls.layer).then(function (r) {
        if (!r.ok) { throw new Error(r.body.error || ("HTTP " + r.status)); }
        var keep = selected;
        setSelected(null);
        drawGrids(r.body);
        if (keep !== null && grids[keep]) { setSelected(keep); }
      });
    }

    // --- messages and the panel --------------------------------------------------------------
    function say(text, kind) {
      ui.message.hidden = !text;
      ui.message.className = "gm-msg" + (kind ? " gm-msg-" + kind : "");
      ui.message.textContent = text || "";
    }

    function setStatus(key, cls) {
      ui.status.textContent = T[key];
      ui.status.className = "badge gm-mode " + (cls || "text-bg-secondary");
    }

    function setHint(text) {
      ui.hint.hidden = !text;
      ui.hint.textContent = text || "";
      document.body.classList.toggle("gm-picking", !!text);
    }

    function refreshButtons() {
      document.querySelectorAll("#gm-tools [data-needs=grid]").forEach(function (b) {
        b.disabled = busy || selected === null;
      });
      $("gm-draw").disabled = busy;
      ui.save.disabled = busy || !pending || !pending.result;
      ui.cancel.disabled = busy || (!pending && !mode);
      var stacks = loadStacks();
      ui.undo.disabled = busy || !stacks.undo.length;
      ui.redo.disabled = busy || !stacks.redo.length;
      var last = stacks.undo[stacks.undo.length - 1];
      ui.undoNote.textContent = last ? fmt(T["edit.undo_next"], {what: last.label}) : "";
    }

    function setBusy(on) {
      busy = on;
      refreshButtons();
    }

    function fillGridTable() {
      var ids = Object.keys(grids).sort(function (a, b) {
        return grids[a].feature.properties.code < grids[b].feature.properties.code ? -1 : 1;
      });
      ui.gridRows.innerHTML = ids.map(function (id) {
        var p = grids[id].feature.properties;
        var bad = offNorm(p);
        return h("tr", {"data-grid": id, "class": Number(id) === selected && "table-active"},
          h("td", {}, esc(p.name) + " " + h("span", {"class": "gm-sub"}, esc(p.code.slice(12))))
          + h("td", {"class": "text-end" + (bad ? " gm-bad" : ""), title: bad && T["edit.off_norm"]},
              int(p.households))
          + h("td", {"class": "text-end"}, int(p.residents))
          + h("td", {"class": "text-end"}, int(p.buildings)));
      }).join("");
      ui.gridRows.querySelectorAll("tr").forEach(function (row) {
        row.addEventListener("click", function () {
          var id = Number(row.dataset.grid);
          onGridClick(id);
          map.fitBounds(grids[id].layer.getBounds(), {maxZoom: 18, padding: [60, 60]});
        });
      });
    }

    function showSelected() {
      if (selected === null) {
        ui.selected.textContent = T["edit.none_selected"];
      } else {
        var p = grids[selected].feature.properties;
        ui.selected.innerHTML = "<b>" + esc(p.name) + "</b> <span class=\"gm-sub\">" + esc(p.code)
          + " · " + fmt(T["edit.households_short"], {n: int(p.households)})
          + " · " + esc(T["edit.version"]) + " " + p.version + "</span>";
      }
      ui.gridRows.querySelectorAll("tr").forEach(function (row) {
        row.classList.toggle("table-active", Number(row.dataset.grid) === selected);
      });
    }

    // --- selection and vertex editing --------------------------------------------------------
    function setSelected(id) {
      var old = selected;
      if (old !== null && grids[old]) {
        grids[old].layer.off("pm:edit", onVertexEdit);
        grids[old].layer.pm.disable();
      }
      selected = id;
      if (old !== null && grids[old]) { grids[old].layer.setStyle(gridStyle(old)); }
      if (id !== null) {
        var layer = grids[id].layer;
        layer.setStyle(gridStyle(id));
        layer.bringToFront();
        layer.pm.enable({snappable: true, snapDistance: SNAP.snapDistance,
                         allowSelfIntersection: false, draggable: false});
        layer.on("pm:edit", onVertexEdit);
      }
      showSelected();
      refreshButtons();
    }

    function onGridClick(id) {
      if (busy) { return; }
      if (mode === "merge") {
        if (id !== selected) { startMerge(id, selected); }
        return;
      }
      if (mode) { return; }  // drawing: the click belongs to the drawing
      if (id === selected) { return; }
      discard();
      ui.historyCard.hidden = true;
      setSelected(id);
    }

    function onVertexEdit() {
      var id = selected;
      var geometry = grids[id].layer.toGeoJSON(false).geometry;
      propose({action: "update", title: codeOf(id), args: {id: id, geometry: geometry}});
    }

    map.on("click", function () {
      if (!mode && !busy && !pending) { setSelected(null); ui.historyCard.hidden = true; }
    });

    // --- the edits: one request each, sent with ?preview=1 first -----------------------------
    // [method, url, body] of an edit, with the versions the page has now
    function request(action, args, preview) {
      var grid = S.urls.grids + "/" + args.id;
      var q = preview ? "?preview=1" : "";
      switch (action) {
        case "update":
          return [preview ? "POST" : "PUT", preview ? grid + "/preview" : grid,
                  {geometry: args.geometry, version: version(args.id)}];
        case "create":
          return ["POST", S.urls.grids + q, {community_code: S.community.code,
                                             layer: args.layer || S.layer, geometry: args.geometry,
                                             name: args.name || undefined}];
        case "split":
          return ["POST", grid + "/split" + q, {line: args.line, version: version(args.id)}];
        case "merge":
          return ["POST", S.urls.merge + q, {ids: args.ids, keep: args.keep,
                                             versions: args.ids.map(version)}];
        case "delete":
          return ["DELETE", grid + "?version=" + version(args.id) + (preview ? "&preview=1" : "")];
        case "copy":
          return ["POST", grid + "/copy" + q];
        case "restore":
          return ["POST", grid + "/restore" + q,
                  {version: args.version, current_version: version(args.id)}];
      }
      throw new Error("unknown edit " + action);
    }

    function send(action, args, preview) {
      var r = request(action, args, preview);
      return api(r[0], r[1], r[2]);
    }

    // show an edit's preview (debounced: dragging vertices sends one request per pause)
    function propose(edit, now) {
      pending = edit;
      edit.result = null;
      setStatus("edit.status_working");
      ui.what.textContent = T["edit.action." + edit.action] + " · " + edit.title;
      refreshButtons();
      clearTimeout(previewTimer);
      previewTimer = setTimeout(function () { runPreview(edit); }, now ? 0 : PREVIEW_DELAY_MS);
    }

    function runPreview(edit) {
      var seq = ++previewSeq;
      var start = performance.now();
      send(edit.action, edit.args, true).then(function (r) {
        if (seq !== previewSeq || pending !== edit) { return; }  // a newer edit took over
        ui.timing.textContent = Math.round(performance.now() - start) + " ms";
        if (r.ok) {
          edit.result = r.body;
          if (ui.message.classList.contains("gm-msg-error")) { say(""); }
          showResult(edit, r.body, false);
        } else if (r.status === 409) {
          conflict();
        } else {
          refused(r.body);
        }
        refreshButtons();
      });
    }

    function refused(body) {
      setStatus("edit.status_refused", "text-bg-danger");
      clearPreview();
      ui.body.innerHTML = "";
      say(fmt(T["edit.error"], {error: body.error || "?"}), "error");
    }

    function conflict() {
      var keep = selected;
      discard();
      say(T["edit.conflict"], "error");
      reload().then(function () {
        if (keep !== null && grids[keep] && selected !== keep) { setSelected(keep); }
        say(T["edit.conflict"] + (S.lang === "zh" ? "。" : ". ") + T["edit.reloaded"], "error");
      });
    }

    function save() {
      var edit = pending;
      if (!edit || !edit.result || busy) { return; }
      setBusy(true);
      setStatus("edit.status_working");
      send(edit.action, edit.args, false).then(function (r) {
        if (!r.ok) {
          setBusy(false);
          if (r.status === 409) { conflict(); } else { refused(r.body); }
          return;
        }
        record(edit, r.body);
        finish();
        showResult(edit, r.body, true);
        var primary = primaryOf(edit, r.body);
        return reload().then(function () {
          if (primary !== null && grids[primary] && primary !== selected) { setSelected(primary); }
          setBusy(false);
          showSelected();
        });
      });
    }

    // the grid to keep selected after a saved edit
    function primaryOf(edit, result) {
      if (result.layer !== S.layer) { return selected; }
      var changed = result.grids.filter(function (g) { return g.after; });
      if (edit.args.keep) { return edit.args.keep; }
      if (edit.args.id && changed.some(function (g) { return g.id === edit.args.id; })) {
        return edit.args.id;
      }
      var made = changed.filter(function (g) { return !g.before; });
      return made.length ? made[0].id : null;
    }

    // end an edit's drawing state (the panel keeps the last numbers)
    function finish() {
      clearTimeout(previewTimer);
      pending = null;
      setMode(null);
      if (temp) { temp.pm && temp.pm.disable(); map.removeLayer(temp); temp = null; }
      ui.keep.hidden = true;
      refreshButtons();
    }

    // drop the pending edit: the grid takes its stored shape again
    function discard() {
      var edit = pending;
      finish();
      previewSeq += 1;
      clearPreview();
      setStatus("edit.status_none");
      ui.what.textContent = "";
      ui.timing.textContent = "";
      ui.body.innerHTML = "<div class=\"gm-hint mb-0\">" + esc(T["edit.no_preview"]) + "</div>";
      if (edit && edit.action === "update" && grids[edit.args.id]) {
        var id = edit.args.id, wasSelected = selected === id;
        if (wasSelected) { setSelected(null); }
        grids[id].layer.pm.disable();
        groups.grids.removeLayer(grids[id].layer);
        drawGrid(grids[id].feature);
        if (wasSelected) { setSelected(id); }
      }
    }

    function setMode(next) {
      if (mode === "draw" || mode === "split") { map.pm.disableDraw(); }
      mode = next;
      // while drawing, clicks on grids go to the drawing (the map), not to the grids
      document.body.classList.toggle("gm-drawing", next === "draw" || next === "split");
      setHint(next ? T["edit." + next + "_hint"] : "");
      refreshButtons();
    }

    // --- the preview on the panel and the map ------------------------------------------------
    function clearPreview() {
      groups.preview.clearLayers();
      Object.keys(buildings).forEach(function (id) {
        buildings[id].layer.setStyle(buildingStyle(buildings[id].feature, false));
      });
    }

    function hatched(geometry) {
      groups.preview.addLayer(L.geoJSON(geometry, {
        pane: "gm-preview", interactive: false, pmIgnore: true, snapIgnore: true,
        style: {color: colors.preview.lost, weight: 1.5, fillColor: "url(#gm-hatch)",
                fillOpacity: 1}}));
    }

    function cell(before, after, key, unit) {
      var b = before ? before[key] : null, a = after ? after[key] : null;
      var d = (a || 0) - (b || 0);
      var delta = before && after && Math.round(d)
        ? "<span class=\"gm-d " + (d > 0 ? "gm-up" : "gm-down") + "\">" + (d > 0 ? "+" : "−")
          + int(Math.abs(d)) + "</span>" : "";
      var bad = key === "households" && a != null && offNorm({households: a}) ? " gm-bad" : "";
      return h("td", {"class": "text-end" + bad},
               h("span", {"class": "gm-was"}, int(b)) + " → " + h("b", {}, int(a)) + (unit || "")
               + delta);
    }

    function section(title, items) {
      if (!items.length) { return ""; }
      return "<div class=\"gm-psec\"><div class=\"gm-psec-title\">" + esc(title)
        + " <span class=\"badge text-bg-light border\">" + items.length + "</span></div><ul>"
        + items.map(function (t) { return "<li>" + t + "</li>"; }).join("") + "</ul></div>";
    }

    function kpiRows(before, after) {
      var rows = [];
      Object.keys(before).forEach(function (k) {
        if (k.indexOf("share_") !== 0 || before[k] === after[k]) { return; }
        rows.push([T["share." + k] || k, pct(before[k]), pct(after[k]),
                   (after[k] || 0) > (before[k] || 0)]);
      });
      var kinds = {};
      Object.keys(before.gap_counts || {}).concat(Object.keys(after.gap_counts || {}))
        .forEach(function (k) { kinds[k] = true; });
      Object.keys(kinds).forEach(function (k) {
        var b = (before.gap_counts || {})[k] || 0, a = (after.gap_counts || {})[k] || 0;
        if (a !== b) { rows.push([T["gap." + k] || k, String(b), String(a), a < b]); }
      });
      if (before.gaps !== after.gaps) {
        rows.push([T["edit.gaps_total"], String(before.gaps), String(after.gaps),
                   after.gaps < before.gaps]);
      }
      if (!rows.length) {
        return "<div class=\"gm-psec\"><div class=\"gm-psec-title\">" + esc(T["edit.kpis"])
          + "</div><div class=\"gm-sub\">" + esc(T["edit.no_kpi_change"]) + "</div></div>";
      }
      return h("div", {"class": "gm-psec"}, h("div", {"class": "gm-psec-title"}, esc(T["edit.kpis"]))
        + h("table", {"class": "gm-kpi-table", id: "gm-kpi-changes"}, h("tbody", {}, rows.map(
          function (r) {
            return h("tr", {}, h("th", {}, esc(r[0])) + h("td", {}, esc(r[1]) + " → "
                     + h("b", {"class": r[3] ? "gm-good" : "gm-bad"}, esc(r[2]))));
          }).join(""))));
    }

    function showResult(edit, res, saved) {
      setStatus(saved ? "edit.status_saved" : "edit.status_preview",
                saved ? "text-bg-success" : "text-bg-warning");
      ui.what.textContent = T["edit.action." + edit.action] + " · " + edit.title;
      var codes = {};
      res.grids.forEach(function (g) { codes[g.id] = g.code; });
      var head = h("thead", {}, h("tr", {}, h("th", {}, esc(T["edit.col_grid"]))
        + ["field.households", "field.residents", "field.buildings"].map(function (k) {
          return h("th", {"class": "text-end"}, esc(T[k]));
        }).join("")));
      var rows = res.grids.map(function (g) {
        var tag = !g.before ? h("span", {"class": "badge text-bg-success"}, esc(T["edit.new_grid"]))
          : !g.after ? h("span", {"class": "badge text-bg-danger"}, esc(T["edit.removed_grid"]))
            : "";
        var name = (g.after || g.before).name || "";
        return h("tr", {"data-grid": g.id},
          h("th", {title: g.code}, esc(g.code.slice(12)) + " " + tag
                                   + h("div", {"class": "gm-sub"}, esc(name)))
          + cell(g.before, g.after, "households") + cell(g.before, g.after, "residents")
          + cell(g.before, g.after, "buildings"));
      }).join("");
      function serial(id) {
        return id == null ? T["edit.no_grid"] : (codes[id] || codeOf(id)).slice(12);
      }
      var moved = res.moved_buildings.map(function (b) {
        var hh = buildings[b.id] ? buildings[b.id].feature.properties.households : null;
        return esc(b.name) + (hh ? " " + h("span", {"class": "gm-sub"},
                                           fmt(T["edit.households_short"], {n: int(hh)})) : "")
          + T["punct.colon"] + esc(serial(b.from_grid)) + " → " + esc(serial(b.to_grid));
      });
      var clipped = res.clipped.map(function (c) {
        return esc(c.code) + " −" + int(c.area_m2) + " m²";
      });
      var holes = res.new_holes.map(function (h) { return int(h.area_m2) + " m²"; });
      var detached = res.detached.map(function (d) { return esc(d.name); });
      ui.body.innerHTML = h("table", {"class": "gm-ptable", id: "gm-preview-grids"},
                            head + h("tbody", {}, rows))
        + (moved.length ? section(T["edit.moved"], moved)
           : "<div class=\"gm-psec gm-sub\">" + esc(T["edit.nothing_moves"]) + "</div>")
        + section(T["edit.clipped"], clipped) + section(T["edit.holes"], holes)
        + section(T["edit.detached"], detached) + kpiRows(res.kpis_before, res.kpis_after);
      // the map: what changes hands, what is lost or left uncovered
      clearPreview();
      res.moved_buildings.forEach(function (b) {
        if (buildings[b.id]) {
          buildings[b.id].layer.setStyle(buildingStyle(buildings[b.id].feature, true));
        }
      });
      // once saved, the clipped areas belong to the edited grid: only holes stay marked
      if (!saved) { res.clipped.forEach(function (c) { hatched(c.geometry); }); }
      res.new_holes.forEach(function (h) { hatched(h.geometry); });
      (edit.lines || []).forEach(function (line) {
        groups.preview.addLayer(L.geoJSON(line, {pane: "gm-preview", interactive: false,
          pmIgnore: true, snapIgnore: true,
          style: {color: colors.preview.line, weight: 2.5, dashArray: "6 4"}}));
      });
      if (edit.shape) {
        groups.preview.addLayer(L.geoJSON(edit.shape, {pane: "gm-preview", interactive: false,
          pmIgnore: true, snapIgnore: true,
          style: {color: colors.preview.new, weight: 2.5, dashArray: "6 4", fill: false}}));
      }
      window.gmEditLast = res;
    }

    // --- the tools -----------------------------------------------------------------------------
    function needGrid() {
      if (selected === null) { say(T["edit.select_first"], "error"); return false; }
      return true;
    }

    function startDraw(kind) {
      discard();
      say("");
      setMode(kind);
      map.pm.enableDraw(kind === "draw" ? "Polygon" : "Line", {
        snappable: true, snapDistance: SNAP.snapDistance, allowSelfIntersection: false,
        pathOptions: {color: colors.preview.line, weight: 2.5, dashArray: "6 4",
                      fillColor: colors.preview.new, fillOpacity: 0.12}});
    }

    map.on("pm:create", function (e) {
      var kind = mode;
      if (kind !== "draw" && kind !== "split") { map.removeLayer(e.layer); return; }
      temp = e.layer;
      setMode(null);
      var again = kind === "draw" ? createFrom : splitWith;
      temp.pm.enable(SNAP);
      temp.on("pm:edit", function () { again(temp); });
      again(temp);
    });

    function createFrom(layer) {
      propose({action: "create", title: T["edit.new_grid"],
               args: {geometry: layer.toGeoJSON(false).geometry}}, true);
    }

    function splitWith(layer) {
      var id = selected;
      // the other suggested cuts of a balance stay on the map
      var lines = pending && pending.action === "split" ? pending.lines : undefined;
      propose({action: "split", title: codeOf(id), lines: lines,
               args: {id: id, line: layer.toGeoJSON(false).geometry}}, true);
    }

    function startMerge(other, current) {
      setMode(null);
      var a = current, b = other;
      ui.keep.hidden = false;
      ui.keep.innerHTML = h("span", {"class": "gm-label"}, esc(T["edit.keep"]))
        + [a, b].map(function (id, n) {
          var radio = "<input class=\"form-check-input\" type=\"radio\" name=\"gm-keep\" value=\""
            + id + "\"" + (n === 0 ? " checked" : "") + ">";
          return h("label", {"class": "gm-check"}, radio + " " + esc(codeOf(id)));
        }).join("");
      ui.keep.querySelectorAll("input").forEach(function (input) {
        input.addEventListener("change", function () { mergePreview(a, b, Number(input.value)); });
      });
      groups.preview.clearLayers();
      mergePreview(a, b, a);
    }

    function mergePreview(a, b, keep) {
      propose({action: "merge", title: codeOf(a) + " + " + codeOf(b).slice(12),
               shape: grids[b].feature.geometry, args: {ids: [a, b], keep: keep}}, true);
    }

    function balance() {
      if (!needGrid()) { return; }
      discard();
      var id = selected;
      setBusy(true);
      api("GET", S.urls.grids + "/" + id + "/balance").then(function (r) {
        setBusy(false);
        if (!r.ok) { refused(r.body); return; }
        var b = r.body, norm = {households: int(b.households), min: S.norms.households_min,
                                max: S.norms.households_max};
        if (!b.lines.length) {
          say(fmt(T[b.households > S.norms.households_max ? "edit.balance_no_cut"
                                                          : "edit.balance_none"], norm), "info");
          return;
        }
        say(fmt(T["edit.balance_lines"], {n: b.parts.length, parts: b.parts.map(int).join(" / ")}),
            "info");
        // the first cut is previewed as an editable line; the others are shown dashed
        temp = L.geoJSON(b.lines[0], {pmIgnore: false, snapIgnore: true,
          style: {color: colors.preview.line, weight: 3, dashArray: "6 4"}}).getLayers()[0];
        temp.addTo(map);
        temp.pm.enable(SNAP);
        temp.on("pm:edit", function () { splitWith(temp); });
        propose({action: "split", title: codeOf(id), args: {id: id, line: b.lines[0]},
                 lines: b.lines.slice(1)}, true);
      });
    }

    function history() {
      if (!needGrid()) { return; }
      var id = selected;
      api("GET", S.urls.grids + "/" + id + "/history").then(function (r) {
        if (!r.ok) { refused(r.body); return; }
        var versions = r.body.versions;
        ui.historyCard.hidden = false;
        ui.historyTitle.textContent = fmt(T["edit.history_title"], {code: codeOf(id)});
        ui.historyRows.innerHTML = versions.map(function (v, n) {
          var when = v.changed_at.slice(0, 16).replace("T", " ");
          var action = n === 0 ? h("span", {"class": "gm-sub"}, esc(T["edit.history_current"]))
            : !v.geometry ? h("span", {"class": "gm-sub"}, esc(T["edit.history_deleted"]))
              : h("button", {type: "button", "class": "btn btn-sm btn-outline-secondary py-0",
                             "data-version": v.version}, esc(T["edit.history_restore"]));
          return h("tr", {"data-version": v.version},
            h("td", {}, "v" + v.version) + h("td", {}, esc(T["edit.action." + v.action] || v.action))
            + h("td", {"class": "gm-sub"}, esc(v.changed_by) + "<br>" + esc(when))
            + h("td", {"class": "text-end"}, action));
        }).join("");
        ui.historyRows.querySelectorAll("button[data-version]").forEach(function (button) {
          button.addEventListener("click", function () {
            var v = Number(button.dataset.version);
            var shape = versions.filter(function (x) { return x.version === v; })[0].geometry;
            discard();
            propose({action: "restore", title: codeOf(id) + " v" + v, shape: shape,
                     args: {id: id, version: v}}, true);
          });
        });
      });
    }

    // --- undo and redo -------------------------------------------------------------------------
    var storeKey = "gridmap.edit." + S.community.code;

    function loadStacks() {
      try {
        var s = JSON.parse(window.sessionStorage.getItem(storeKey) || "null");
        if (s && s.undo && s.redo) { return s; }
      } catch (err) { /* a broken entry: start again */ }
      return {undo: [], redo: []};
    }

    function saveStacks(s) {
      s.undo = s.undo.slice(-UNDO_LIMIT);
      window.sessionStorage.setItem(storeKey, JSON.stringify(s));
      refreshButtons();
    }

    function entryOf(edit, res) {
      var clipped = {};
      res.clipped.forEach(function (c) { clipped[c.id] = true; });
      return {action: edit.action, args: edit.args, layer: res.layer,
              label: T["edit.action." + edit.action] + " " + edit.title,
              grids: res.grids.map(function (g) {
                var last = g.after || g.before;
                return {id: g.id, code: g.code, name: last.name,
                        before: g.before && g.before.version, after: g.after && g.after.version,
                        primary: !clipped[g.id]};
              })};
    }

    function record(edit, res) {
      var s = loadStacks();
      s.undo.push(entryOf(edit, res));
      s.redo = [];
      saveStacks(s);
    }

    // run promise-returning steps one after another; stop at the first refusal
    function chain(steps) {
      return steps.reduce(function (p, step) {
        return p.then(function (r) { return r && !r.ok ? r : step(); });
      }, Promise.resolve(null));
    }

    function undo() {
      var s = loadStacks();
      var entry = s.undo[s.undo.length - 1];
      if (!entry || busy) { return; }
      discard();
      setBusy(true);
      var current = {};
      entry.grids.forEach(function (g) { current[g.id] = g.after; });
      function track(r) {
        if (r.ok && r.body.grids) {
          r.body.grids.forEach(function (g) { current[g.id] = g.after && g.after.version; });
        }
        return r;
      }
      var made = entry.grids.filter(function (g) { return g.before == null && g.after != null; });
      var changed = entry.grids.filter(function (g) { return g.before != null && g.after != null; })
        .sort(function (a, b) { return (b.primary ? 1 : 0) - (a.primary ? 1 : 0); });
      var gone = entry.grids.filter(function (g) { return g.before != null && g.after == null; });
      var steps = [];
      made.forEach(function (g) {
        steps.push(function () {
          return api("DELETE", S.urls.grids + "/" + g.id + "?version=" + current[g.id]).then(track);
        });
      });
      // removed grids come back under their own id, code and name, with their staff
      gone.forEach(function (g) {
        steps.push(function () {
          return api("POST", S.urls.grids + "/" + g.id + "/undelete").then(track);
        });
      });
      changed.forEach(function (g) {
        steps.push(function () {
          return api("POST", S.urls.grids + "/" + g.id + "/restore",
                     {version: g.before, current_version: current[g.id]}).then(track);
        });
      });
      var notes = [];
      chain(steps).then(function (r) {
        if (r && !r.ok) {
          say(r.status === 409 ? T["edit.conflict"] : fmt(T["edit.error"], {error: r.body.error}),
              "error");
        } else {
          s.undo.pop();
          s.redo.push(entry);
          saveStacks(s);
          var done = [fmt(T["edit.undone"], {what: entry.label})].concat(notes);
          say(done.join(S.lang === "zh" ? "；" : "; "), "info");
        }
        return reload().then(function () { setBusy(false); });
      });
    }

    function redo() {
      var s = loadStacks();
      var entry = s.redo[s.redo.length - 1];
      if (!entry || busy) { return; }
      discard();
      setBusy(true);
      var args = JSON.parse(JSON.stringify(entry.args));
      send(entry.action, args, false).then(function (r) {
        var done = function () { setBusy(false); };
        if (!r.ok) {
          say(r.status === 409 ? T["edit.conflict"] : fmt(T["edit.error"], {error: r.body.error}),
              "error");
          return reload().then(done);
        }
        var again = entryOf({action: entry.action, args: args, title: entry.label}, r.body);
        again.label = entry.label;
        s.redo.pop();
        s.undo.push(again);
        saveStacks(s);
        say(fmt(T["edit.redone"], {what: entry.label}), "info");
        return reload().then(done);
      });
    }

    // --- wiring --------------------------------------------------------------------------------
    $("gm-draw").addEventListener("click", function () { startDraw("draw"); });
    $("gm-split").addEventListener("click", function () { if (needGrid()) { startDraw("split"); } });
    $("gm-merge").addEventListener("click", function () {
      if (!needGrid()) { return; }
      discard();
      setMode("merge");
    });
    $("gm-delete").addEventListener("click", function () {
      if (!needGrid()) { return; }
      discard();
      propose({action: "delete", title: codeOf(selected), args: {id: selected}}, true);
    });
    $("gm-copy").addEventListener("click", function () {
      if (!needGrid()) { return; }
      discard();
      propose({action: "copy", title: codeOf(selected), args: {id: selected}}, true);
    });
    $("gm-balance").addEventListener("click", balance);
    $("gm-history").addEventListener("click", history);
    ui.save.addEventListener("click", save);
    ui.cancel.addEventListener("click", function () { discard(); say(""); });
    ui.undo.addEventListener("click", undo);
    ui.redo.addEventListener("click", redo);
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && (mode || pending)) { discard(); }
    });

    drawGrids(S.grids);
    if (S.select !== null && grids[S.select]) { setSelected(S.select); }
    refreshButtons();

    // for the tests and the browser console
    window.gmEditState = {
      map: map, S: S,
      selected: function () { return selected; },
      layer: function (id) { return grids[id] ? grids[id].layer : null; },
      pending: function () { return pending; },
      busy: function () { return busy; },
    };
  }

  window.gmEdit = function (state) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", function () { init(state); });
    } else {
      init(state);
    }
  };
})();
