/* The siting page: run a model, show its proposal on the map and in the panel, adopt it.
 *
 * gmSiting(state) — the state comes from web.siting_map.page_state: the region, the level
 * norms, colours, labels, the API URLs and the names of the folium layers to fill.
 *
 * "运行" posts the form to /api/siting/run (a spinner and the elapsed time show meanwhile);
 * the answer places the new sites (numbered markers, radius circles, lines to the buildings
 * they serve), colours every building by the site serving it (red: beyond every radius), fills
 * the before/after table and the site table, and asks /api/siting/curve for the residents
 * covered against k. "采纳方案" posts the new sites to /api/siting/adopt.
 */
(function () {
  "use strict";

  var U = window.gmUtil, esc = U.esc, fmt = U.fmt, int = U.int, pct = U.pct;

  function postJson(url, body) {
    return U.requestJson(url, {method: "POST", body: JSON.stringify(body),
                               headers: {"Content-Type": "application/json"}});
  }

  var SVG = "http://www.w3.org/2000/svg";

  function signed(value, text) {
    if (!value) { return "±0"; }
    return (value > 0 ? "+" : "−") + text;
  }

  function init(S) {
    var T = S.labels;
    var map = window[S.layers.map];
    var buildingLayer = window[S.layers.buildings];
    var groups = {sites: window[S.layers.sites], radius: window[S.layers.radius],
                  lines: window[S.layers.lines]};
    var form = document.getElementById("gm-site-form");
    var ui = {
      model: document.getElementById("gm-model"),
      help: document.getElementById("gm-model-help"),
      k: document.getElementById("gm-k"),
      radius: document.getElementById("gm-radius"),
      level: document.getElementById("gm-level"),
      source: document.getElementById("gm-source"),
      capacitated: document.getElementById("gm-capacitated"),
      planned: document.getElementById("gm-planned"),
      run: document.getElementById("gm-run"),
      progress: document.getElementById("gm-progress"),
      error: document.getElementById("gm-site-error"),
      compare: document.getElementById("gm-compare"),
      cmp: document.querySelector("#gm-cmp-table tbody"),
      cmpNote: document.getElementById("gm-cmp-note"),
      curveCard: document.getElementById("gm-curve-card"),
      curve: document.getElementById("gm-curve"),
      curveNote: document.getElementById("gm-curve-note"),
      sitesCard: document.getElementById("gm-sites-card"),
      siteCount: document.getElementById("gm-site-count"),
      sites: document.querySelector("#gm-site-table tbody"),
      sitesHint: document.getElementById("gm-sites-hint"),
      adopt: document.getElementById("gm-adopt"),
      adopted: document.getElementById("gm-adopted"),
    };

    // --- the form ------------------------------------------------------------------------------
    function syncForm() {
      var model = ui.model.value;
      ui.k.disabled = model === "lscp";
      ui.help.textContent = T["siting.help_" + model] || "";
      ui.radius.placeholder = fmt(T["siting.radius_norm"], {
        radius: int(S.norm_radius[ui.level.value])});
    }
    ui.model.addEventListener("change", syncForm);
    ui.level.addEventListener("change", syncForm);
    syncForm();

    function params() {
      var body = {region: S.region, model: ui.model.value, level: ui.level.value,
                  source: ui.source.value, capacitated: ui.capacitated.checked,
                  planned: ui.planned.checked};
      if (ui.radius.value !== "") { body.radius_m = Number(ui.radius.value); }
      if (ui.model.value !== "lscp") { body.k = ui.k.value === "" ? null : Number(ui.k.value); }
      return body;
    }

    function showError(text, field) {
      ui.error.hidden = !text;
      ui.error.textContent = text || "";
      form.querySelectorAll(".is-invalid").forEach(function (el) {
        el.classList.remove("is-invalid");
      });
      var input = field && form.querySelector("[name=" + field + "]");
      if (input) { input.classList.add("is-invalid"); }
    }

    // --- buildings -----------------------------------------------------------------------------
    var layerOf = {};
    buildingLayer.eachLayer(function (layer) {
      if (layer.feature) { layerOf[String(layer.feature.id)] = layer; }
    });
    buildingLayer.options.style = function (feature) {
      return Object.assign({}, S.building_style, {
        fillColor: feature.properties.fill || S.colors.none});
    };

    // --- the answer ----------------------------------------------------------------------------
    var last = null;      // the last run's answer
    var mode = "plan";    // what the map shows: "plan" or "current"
    var siteOf = {};      // ref → {n, color, site, marker, circle}
    var newSites = [];

    function siteName(s) { return fmt(T["siting.site_name"], {n: s.n}); }

    function icon(s) {
      return L.divIcon({className: "", iconSize: [26, 26], iconAnchor: [13, 13],
                        popupAnchor: [0, -12],
                        html: "<div class=\"gm-site-icon\" data-site=\"" + esc(s.ref)
                          + "\" style=\"background:" + s.color + "\">" + s.n + "</div>"});
    }

    function sitePopup(s) {
      var rows = [
        [T["siting.ref"], esc(s.site.name) + " <span class=\"text-muted\">(" + esc(s.ref)
          + ")</span>"],
        [T["siting.served"], int(s.site.served)],
        [T["siting.served_within"], int(s.site.served_within)],
        [T["field.radius"], int(s.site.radius_m) + " " + esc(T["unit.m"])],
        [T["field.level"], esc(S.levels[last.level] || last.level)],
        [T["siting.position"], s.site.lon.toFixed(6) + ", " + s.site.lat.toFixed(6)],
      ];
      return "<div class=\"gm-popup\"><div class=\"gm-popup-title\"><span class=\"gm-dot-n\" "
        + "style=\"background:" + s.color + "\">" + s.n + "</span>" + esc(siteName(s))
        + "</div><table>" + rows.map(function (r) {
          return "<tr><th>" + esc(r[0]) + "</th><td>" + r[1] + "</td></tr>";
        }).join("") + "</table></div>";
    }

    function clearSites() {
      groups.sites.clearLayers();
      groups.radius.clearLayers();
      groups.lines.clearLayers();
      siteOf = {};
      newSites = [];
    }

    function drawSites(answer) {
      clearSites();
      answer.sites.forEach(function (site) {
        if (site.existing) {
          siteOf[site.ref] = {ref: site.ref, site: site, existing: true};
          return;
        }
        var n = newSites.length + 1;
        var s = {ref: site.ref, site: site, n: n, existing: false,
                 color: S.palette[(n - 1) % S.palette.length]};
        s.circle = L.circle([site.lat, site.lon], {
          radius: site.radius_m, color: s.color, weight: 2, opacity: 0.9, dashArray: "6 5",
          fill: true, fillColor: s.color, fillOpacity: 0.07, interactive: false,
          pane: "gm-radius"}).addTo(groups.radius);
        s.marker = L.marker([site.lat, site.lon], {icon: icon(s), title: siteName(s),
                                                   riseOnHover: true, zIndexOffset: 1000});
        s.marker.bindPopup(function () { return sitePopup(s); }, {minWidth: 220});
        s.marker.addTo(groups.sites);
        siteOf[site.ref] = s;
        newSites.push(s);
      });
    }

    function centreOf(layer) {
      return layer.getBounds ? layer.getBounds().getCenter() : layer.getLatLng();
    }

    function drawLines(answer) {
      groups.lines.clearLayers();
      var segments = {};
      answer.buildings.forEach(function (b) {
        var s = b.site && siteOf[b.site];
        var layer = layerOf[String(b.id)];
        if (!s || s.existing || !b.covered || !layer) { return; }
        (segments[s.ref] = segments[s.ref] || []).push(
          [centreOf(layer), [s.site.lat, s.site.lon]]);
      });
      Object.keys(segments).forEach(function (ref) {
        L.polyline(segments[ref], {color: siteOf[ref].color, weight: 1.2, opacity: 0.7,
                                   interactive: false, pane: "gm-lines"}).addTo(groups.lines);
      });
    }

    function paintBuildings() {
      var rows = {};
      if (last) { last.buildings.forEach(function (b) { rows[String(b.id)] = b; }); }
      Object.keys(layerOf).forEach(function (id) {
        var layer = layerOf[id];
        var p = layer.feature.properties;
        var b = rows[id];
        var fill = S.colors.none;
        if (b && mode === "current") {
          fill = b.covered_before ? S.colors.existing : S.colors.beyond;
        } else if (b) {
          var s = b.site && siteOf[b.site];
          fill = !b.covered ? S.colors.beyond
            : (s && !s.existing ? s.color : S.colors.existing);
        }
        p.fill = fill;
        p.style_key = b ? (b.covered ? "covered" : "beyond") : "none";
        if (b) {
          var current = mode === "current";
          var ref = current ? b.site_before : b.site;
          var site = ref ? siteOf[ref] : null;
          var walk = current ? b.walk_before_m : b.walk_m;
          var now = current ? b.covered_before : b.covered;
          p.site = !site ? "—" : site.existing ? esc(site.site.name)
            : "<b style=\"color:" + site.color + "\">" + esc(siteName(site)) + "</b>";
          if (site && !now) { p.site += " " + esc(T["siting.beyond_note"]); }
          p.walk = walk == null ? "—" : int(walk) + " " + esc(T["unit.m"]);
          p.covered = now ? T["value.yes"] : "<b style=\"color:" + S.colors.beyond + "\">"
            + esc(T["value.no"]) + "</b>";
        }
        buildingLayer.resetStyle(layer);
      });
      if (buildingLayer.isPopupOpen && buildingLayer.isPopupOpen()) {
        buildingLayer.getPopup().update();
      }
    }

    function setMode(next) {
      mode = next;
      ui.compare.querySelectorAll("[data-show]").forEach(function (btn) {
        btn.classList.toggle("active", btn.dataset.show === mode);
      });
      [groups.sites, groups.radius, groups.lines].forEach(function (g) {
        if (mode === "plan") { map.addLayer(g); } else { map.removeLayer(g); }
      });
      paintBuildings();
    }
    ui.compare.querySelectorAll("[data-show]").forEach(function (btn) {
      btn.addEventListener("click", function () { setMode(btn.dataset.show); });
    });

    function kpiRow(label, before, after, change, cls) {
      return "<tr" + (cls ? " class=\"" + cls + "\"" : "") + "><th>" + esc(label) + "</th><td>"
        + before + "</td><td>" + after + "</td><td class=\"gm-chg\">" + (change || "")
        + "</td></tr>";
    }

    function paintCompare(a) {
      var gain = a.residents_within_after - a.residents_within_before;
      var shareGain = (a.share_within_after || 0) - (a.share_within_before || 0);
      var rows = [
        kpiRow(T["siting.kpi_within"], int(a.residents_within_before),
               "<b>" + int(a.residents_within_after) + "</b>",
               "<span class=\"" + (gain > 0 ? "gm-up" : "") + "\">" + signed(gain, int(Math.abs(gain)))
               + "</span>", "gm-main"),
        kpiRow(T["siting.kpi_share"], pct(a.share_within_before),
               "<b>" + pct(a.share_within_after) + "</b>",
               "<span class=\"" + (shareGain > 0 ? "gm-up" : "") + "\">"
               + signed(Math.round(shareGain * 1000), (Math.abs(shareGain) * 100).toFixed(1))
               + "</span>"),
        kpiRow(T["siting.kpi_beyond"], int(a.residents_beyond_before),
               "<b class=\"" + (a.residents_beyond_after > 0 ? "gm-bad" : "gm-good") + "\">"
               + int(a.residents_beyond_after) + "</b>",
               signed(a.residents_beyond_after - a.residents_beyond_before,
                      int(Math.abs(a.residents_beyond_after - a.residents_beyond_before)))),
        kpiRow(T["siting.kpi_sites"], int(a.existing), int(a.existing + a.new_sites
                                                           - a.closed_sites.length),
               signed(a.new_sites, String(a.new_sites))),
      ];
      if (a.capacitated && a.model !== "pmedian") {
        rows.push(kpiRow(T["siting.kpi_capacity"], "—", int(a.covered_after), ""));
      }
      if (a.model === "pmedian" && a.resident_metres != null) {
        rows.push(kpiRow(T["siting.kpi_walk"], "—", int(a.resident_metres / 1000), ""));
      }
      var optimal = a.gap < 1e-6 && a.status === "Optimal";
      rows.push(kpiRow(T["siting.kpi_gap"], "", pct(a.gap, 2)
                       + " <span class=\"gm-sub\">" + esc(optimal ? T["siting.status_optimal"]
                         : a.status === "TimeLimit" ? T["siting.status_limit"] : a.status)
                       + "</span>", "", "gm-meta"));
      rows.push(kpiRow(T["siting.kpi_time"], "", esc(fmt(T["siting.kpi_time_text"], {
        build: a.build_seconds.toFixed(2), solve: a.seconds.toFixed(2)})), "", "gm-meta"));
      ui.cmp.innerHTML = rows.join("");
      var note = [T["siting.model_" + a.model] + (a.k ? fmt(T["siting.k_is"], {k: a.k}) : ""),
                  T["field.radius"] + " " + int(a.radius_m) + " " + T["unit.m"],
                  T["siting.source_" + a.source]];
      if (a.unreachable_buildings.length) {
        var lost = 0;
        var unreachable = {};
        a.unreachable_buildings.forEach(function (id) { unreachable[id] = true; });
        a.buildings.forEach(function (b) { if (unreachable[b.id]) { lost += b.residents; } });
        note.push(fmt(T["siting.unreachable"], {n: a.unreachable_buildings.length,
                                                r: int(lost)}));
      }
      ui.cmpNote.textContent = note.join(" · ");
      ui.compare.hidden = false;
    }

    function paintSites() {
      ui.siteCount.textContent = newSites.length;
      ui.sitesHint.textContent = newSites.length ? T["siting.click_row"] : T["siting.no_new"];
      ui.sites.innerHTML = newSites.map(function (s) {
        return "<tr data-ref=\"" + esc(s.ref) + "\"><td><span class=\"gm-dot-n\" style=\"background:"
          + s.color + "\">" + s.n + "</span></td><td>" + esc(siteName(s))
          + "<div class=\"gm-sub\">" + esc(s.site.name) + "</div></td><td class=\"text-end\">"
          + int(s.site.served) + "</td><td class=\"text-end\">" + int(s.site.served_within)
          + "</td></tr>";
      }).join("");
      ui.sitesCard.hidden = false;
      ui.adopt.disabled = newSites.length === 0;
      ui.adopted.hidden = true;
      ui.adopted.innerHTML = "";
    }
    ui.sites.addEventListener("click", function (e) {
      var row = e.target.closest("tr[data-ref]");
      var s = row && siteOf[row.dataset.ref];
      if (!s || !s.marker) { return; }
      if (mode !== "plan") { setMode("plan"); }
      map.setView(s.marker.getLatLng(), Math.max(map.getZoom(), 16), {animate: false});
      s.marker.openPopup();
    });

    // the region's buildings and every new site's circle (sites may stand outside the region)
    function fit() {
      var bounds = buildingLayer.getBounds();
      newSites.forEach(function (s) { bounds.extend(s.circle.getBounds()); });
      if (bounds.isValid()) { map.fitBounds(bounds, {animate: false, padding: [12, 12]}); }
    }

    // --- the curve: residents covered against k --------------------------------------------------
    function svg(tag, attrs, text) {
      var el = document.createElementNS(SVG, tag);
      Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
      if (text != null) { el.textContent = text; }
      return el;
    }

    function niceStep(span, count) {
      var raw = span / Math.max(count, 1);
      var mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
      var norm = raw / mag;
      return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
    }

    function drawCurve(answer, chosenK) {
      var pts = answer.points;
      var total = answer.demand_weight;
      var width = Math.max(ui.curve.clientWidth, 300);
      var height = 175;
      var pad = {left: 56, right: 14, top: 16, bottom: 34};
      var low = Math.min.apply(null, pts.map(function (p) { return p.covered; }));
      var step = niceStep(total - low, 4);
      var y0 = Math.max(0, Math.floor(low / step) * step);
      var y1 = Math.max(total, y0 + step);
      var kMax = pts[pts.length - 1].k;
      function x(k) { return pad.left + (width - pad.left - pad.right) * k / Math.max(kMax, 1); }
      function y(v) { return pad.top + (height - pad.top - pad.bottom) * (1 - (v - y0) / (y1 - y0)); }
      var root = svg("svg", {width: width, height: height, viewBox: "0 0 " + width + " " + height,
                             role: "img", "aria-label": T["siting.curve"], class: "gm-curve-svg"});
      for (var v = y0; v <= y1 + 1e-9; v += step) {
        root.appendChild(svg("line", {x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v),
                                      class: "gm-grid"}));
        root.appendChild(svg("text", {x: pad.left - 6, y: y(v) + 4, class: "gm-ylab"}, int(v)));
      }
      pts.forEach(function (p) {
        root.appendChild(svg("text", {x: x(p.k), y: height - pad.bottom + 15, class: "gm-xlab"},
                             p.k));
      });
      root.appendChild(svg("text", {x: (pad.left + width - pad.right) / 2, y: height - 3,
                                    class: "gm-axis"}, T["siting.curve_x"]));
      root.appendChild(svg("text", {x: 12, y: (pad.top + height - pad.bottom) / 2,
                                    class: "gm-axis", transform: "rotate(-90 12 "
                                      + (pad.top + height - pad.bottom) / 2 + ")"},
                           T["siting.curve_y"]));
      // everyone: the ceiling
      root.appendChild(svg("line", {x1: pad.left, x2: width - pad.right, y1: y(total),
                                    y2: y(total), class: "gm-total"}));
      root.appendChild(svg("text", {x: width - pad.right, y: y(total) - 4, class: "gm-total-lab"},
                           fmt(T["siting.curve_total"], {total: int(total)})));
      // the gain of each k as a bar, the cover as a line
      pts.forEach(function (p, i) {
        if (i === 0) { return; }
        var gain = p.covered - pts[i - 1].covered;
        if (gain <= 0) { return; }
        root.appendChild(svg("rect", {x: x(p.k) - 5, width: 10, y: y(p.covered),
                                      height: Math.max(y(pts[i - 1].covered) - y(p.covered), 0),
                                      class: "gm-gain"}));
      });
      root.appendChild(svg("polyline", {points: pts.map(function (p) {
        return x(p.k) + "," + y(p.covered);
      }).join(" "), class: "gm-line"}));
      pts.forEach(function (p, i) {
        var gain = i ? p.covered - pts[i - 1].covered : 0;
        var dot = svg("circle", {cx: x(p.k), cy: y(p.covered), r: p.k === chosenK ? 6 : 3.5,
                                 class: "gm-pt" + (p.k === chosenK ? " gm-chosen" : ""),
                                 "data-k": p.k, "data-covered": p.covered});
        dot.appendChild(svg("title", {}, fmt(T["siting.curve_point"], {
          k: p.k, covered: int(p.covered), share: pct(p.share), gain: int(gain)})));
        root.appendChild(dot);
      });
      ui.curve.innerHTML = "";
      ui.curve.appendChild(root);
    }

    var curveToken = 0;
    function requestCurve(answer, body) {
      var token = ++curveToken;
      var chosen = answer.model === "pmedian" ? null : answer.new_sites;
      ui.curveCard.hidden = false;
      ui.curve.innerHTML = "<div class=\"gm-progress\"><span class=\"spinner-border "
        + "spinner-border-sm\"></span> " + esc(T["siting.curve_loading"]) + "</div>";
      ui.curveNote.textContent = fmt(T["siting.curve_note"], {radius: int(answer.radius_m)});
      var req = {region: body.region, level: body.level, source: body.source,
                 capacitated: body.capacitated, planned: body.planned,
                 k_max: Math.min(30, Math.max(10, answer.new_sites))};
      if (body.radius_m != null) { req.radius_m = body.radius_m; }
      postJson(S.urls.curve, req).then(function (curve) {
        if (token !== curveToken) { return; }
        drawCurve(curve, chosen);
        window.gmSitingCurve = curve;  // for the browser tests and the console
      }).catch(function (err) {
        if (token !== curveToken) { return; }
        ui.curve.innerHTML = "<div class=\"gm-error\">" + esc(T["siting.failed"]
          + T["punct.colon"] + err.message) + "</div>";
      });
    }

    // --- run -----------------------------------------------------------------------------------
    var running = false;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (running) { return; }
      var body = params();
      running = true;
      showError(null);
      ui.run.disabled = true;
      var started = performance.now();
      function tick() {
        ui.progress.innerHTML = "<span class=\"spinner-border spinner-border-sm\"></span> "
          + esc(T["siting.running"]) + " <span class=\"gm-timing\">" + esc(fmt(
            T["siting.elapsed"], {s: ((performance.now() - started) / 1000).toFixed(1)}))
          + "</span>";
      }
      tick();
      var timer = window.setInterval(tick, 100);
      postJson(S.urls.run, body).then(function (answer) {
        last = answer;
        drawSites(answer);
        setMode("plan");
        drawLines(answer);
        paintCompare(answer);
        paintSites();
        fit();
        requestCurve(answer, body);
        ui.progress.textContent = fmt(T["siting.done"], {
          s: ((performance.now() - started) / 1000).toFixed(2)});
        window.gmSitingLast = answer;  // for the browser tests and the console
      }).catch(function (err) {
        ui.progress.textContent = "";
        showError(T["siting.failed"] + T["punct.colon"] + err.message, err.field);
      }).then(function () {
        window.clearInterval(timer);
        running = false;
        ui.run.disabled = false;
      });
    });

    // --- adopt ---------------------------------------------------------------------------------
    ui.adopt.addEventListener("click", function () {
      if (!last || !newSites.length) { return; }
      var label = ui.adopt.innerHTML;
      ui.adopt.disabled = true;
      ui.adopt.textContent = T["siting.adopting"];
      var body = {region: last.region, level: last.level, radius_m: last.radius_m,
                  sites: newSites.map(function (s) {
                    var item = {lon: s.site.lon, lat: s.site.lat, ref: s.ref};
                    if (s.site.floor_area_m2) { item.floor_area_m2 = s.site.floor_area_m2; }
                    return item;
                  })};
      var url = S.urls.adopt + (S.lang && S.lang !== "zh" ? "?lang=" + S.lang : "");
      postJson(url, body).then(function (answer) {
        ui.adopt.innerHTML = label;
        ui.adopted.hidden = false;
        ui.adopted.innerHTML = "<div>" + esc(fmt(T["siting.adopted"], {n: answer.centers.length}))
          + "</div><ul>" + answer.centers.map(function (c) {
            return "<li>" + esc(c.name) + "</li>";
          }).join("") + "</ul><div class=\"gm-links\"><a id=\"gm-to-coverage\" href=\""
          + esc(answer.links.coverage) + "\">" + esc(T["siting.view_coverage"])
          + "</a><a id=\"gm-to-access\" href=\"" + esc(answer.links.access) + "\">"
          + esc(T["siting.view_access"]) + "</a></div>";
        window.gmSitingAdopted = answer;
      }).catch(function (err) {
        ui.adopt.innerHTML = label;
        ui.adopt.disabled = false;
        ui.adopted.hidden = false;
        ui.adopted.innerHTML = "<div class=\"gm-error\">" + esc(T["siting.adopt_failed"]
          + T["punct.colon"] + err.message) + "</div>";
      });
    });

    window.gmSitingState = {map: map, buildings: buildingLayer, groups: groups, fit: fit,
                            sites: function () { return newSites; },
                            mode: function () { return mode; }};
  }

  window.gmSiting = init;
}());
