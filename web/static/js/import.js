/* The import page: check a file against a layer (a dry run), see it on the map, then import it.
 *
 * gmImportPage(state) — the state comes from web.imports.page: labels, the API URLs, the help
 * of each layer (required columns, geometry, field labels) and the names of the folium map and
 * of the layer group the preview is drawn in.
 *
 * "检查" uploads the form to POST /api/import with dry_run=1 (the upload's progress shows in
 * the bar), then polls GET /api/import/jobs/<id>: the bar follows the rows read against the
 * rows the file holds (striped while that is unknown), the file's first features are drawn on
 * the map as soon as the server has read them, and the report (counts, column mapping,
 * rejected and repaired rows, notes) fills the panel; rejected rows are drawn red. "导入" is
 * enabled only after a check without rejected rows, and only while the file and options stay
 * as checked; it imports the upload the server kept from the check (from_job, with the same
 * options: the file is not sent again) and shows what was written. When the server no longer
 * has that upload (expired, used, restarted) the file is uploaded again with dry_run=0.
 *
 * Only the options that apply to the layer are shown and sent: an OpenStreetMap extract
 * ("osm") takes the file and the district code alone (its report is the counts of
 * gis.io.osm.import_osm, its preview the extract's buildings); the walking network takes no
 * coordinate type, sheet, column mapping or encoding; the other layers take all but the
 * district.
 */
(function () {
  "use strict";

  var U = window.gmUtil, esc = U.esc, fmt = U.fmt, int = U.int, pct = U.pct;
  var getJson = U.requestJson;

  var POLL_MS = 400;
  // the form fields each layer takes (besides the file)
  var OPTIONS = ["district", "crs", "coords", "sheet", "encoding", "mapping"];
  var DISTRICT_RE = /^[0-9]{4}(?!00)[0-9]{2}0{6}$/;
  // refusals of from_job after which the file is simply uploaded again
  var UPLOAD_AGAIN = {check_unknown: true, check_used: true, check_expired: true,
                      options_changed: true};

  function applies(layer, option) {
    if (layer === "osm") { return option === "district"; }
    if (option === "district") { return false; }
    return layer !== "network" || option === "crs";
  }

  function init(S) {
    var T = S.labels;
    var map = window[S.layers.map];
    var group = window[S.layers.preview];
    var form = document.getElementById("gm-import-form");
    var ui = {
      layer: document.getElementById("gm-layer"),
      help: document.getElementById("gm-layer-help"),
      file: document.getElementById("gm-file"),
      fileHint: document.getElementById("gm-file-hint"),
      crs: document.getElementById("gm-crs"),
      coords: document.getElementById("gm-coords"),
      sheet: document.getElementById("gm-sheet"),
      district: document.getElementById("gm-district"),
      encoding: document.getElementById("gm-encoding"),
      mappingFile: document.getElementById("gm-mapping-file"),
      check: document.getElementById("gm-check"),
      run: document.getElementById("gm-import"),
      barWrap: document.getElementById("gm-import-progress"),
      bar: document.getElementById("gm-import-bar"),
      status: document.getElementById("gm-import-status"),
      error: document.getElementById("gm-import-error"),
      result: document.getElementById("gm-result"),
      report: document.getElementById("gm-report"),
      reportTitle: document.getElementById("gm-report-title"),
      counts: document.getElementById("gm-counts"),
      verdict: document.getElementById("gm-verdict"),
      previewNote: document.getElementById("gm-preview-note"),
      rejectedBlock: document.getElementById("gm-rejected-block"),
      rejectedCount: document.getElementById("gm-rejected-count"),
      rejected: document.querySelector("#gm-rejected-table tbody"),
      rejectedMore: document.getElementById("gm-rejected-more"),
      mappingBlock: document.getElementById("gm-mapping-block"),
      mapping: document.querySelector("#gm-mapping-table tbody"),
      ignored: document.getElementById("gm-ignored"),
      repairedBlock: document.getElementById("gm-repaired-block"),
      repairedCount: document.getElementById("gm-repaired-count"),
      repaired: document.querySelector("#gm-repaired-table tbody"),
      notesBlock: document.getElementById("gm-notes-block"),
      notes: document.getElementById("gm-notes"),
    };
    // the option inputs, by form field name
    var inputs = {district: ui.district, crs: ui.crs, coords: ui.coords, sheet: ui.sheet,
                  encoding: ui.encoding, mapping: ui.mappingFile};
    // what tests and the console may look at
    var api = {map: map, group: group, last: null, preview: null, features: 0,
               reused: false};
    window.gmImport = api;

    var fileHint = ui.fileHint.textContent;
    var busy = false;
    var checked = null;       // the form signature of the last check without rejected rows
    var checkedJob = null;    // that check's job, while the server keeps its upload
    var previewLayer = null;
    var layerOfRow = {};

    // --- the form ------------------------------------------------------------------------------
    function fileKeys(input) {
      return Array.prototype.map.call(input.files, function (f) {
        return [f.name, f.size, f.lastModified].join(":");
      });
    }

    // the value of each option that applies to the layer, "" for those that do not
    function optionValues() {
      var out = {};
      OPTIONS.forEach(function (name) {
        var el = inputs[name];
        var value = el.type === "file" ? el.files[0] || "" : el.value.trim();
        out[name] = applies(ui.layer.value, name) ? value : "";
      });
      return out;
    }

    function signature() {
      var v = optionValues();
      return JSON.stringify([ui.layer.value, fileKeys(ui.file), v.district, v.crs, v.coords,
                             v.sheet, v.encoding, fileKeys(ui.mappingFile)]);
    }

    function syncHelp() {
      var layer = ui.layer.value;
      var help = S.help[layer] || {};
      var parts = [];
      if (help.required && help.required.length) {
        parts.push(esc(T["import.required"]) + esc(T["punct.colon"])
                   + help.required.map(esc).join(S.lang === "zh" ? "、" : ", "));
      }
      var geometry = T["import.geometry_" + help.geometry] || "";
      if (geometry) {
        parts.push(esc(T["import.geometry"]) + esc(T["punct.colon"]) + esc(geometry)
                   + (help.geometry_required || help.geometry === "none" ? ""
                      : esc(T["import.geometry_optional"])));
      }
      if (layer === "network" || layer === "osm") {
        parts.push("<span class=\"gm-warn\">" + esc(T["import." + layer + "_warning"])
                   + "</span>");
      }
      ui.help.innerHTML = parts.join("<br>");
      OPTIONS.forEach(function (name) {
        var on = applies(layer, name);
        inputs[name].disabled = !on;
        // the walking network keeps its options in view, greyed; OSM shows only its own
        document.getElementById("gm-field-" + name).hidden = !on && (layer === "osm"
                                                                     || name === "district");
      });
      ui.file.setAttribute("accept", S.accept[layer === "osm" ? "osm" : "files"]);
      ui.fileHint.textContent = layer === "osm"
        ? fmt(T["import.file_hint_osm"], {mb: int(S.max_bytes / 1048576)}) : fileHint;
    }

    function syncButtons() {
      ui.check.disabled = busy;
      ui.run.disabled = busy || checked === null || checked !== signature();
    }

    function formChanged() {
      if (checked !== null && checked !== signature()) {
        checked = null;
        checkedJob = null;
        if (!ui.report.hidden) { showVerdict(false, T["import.changed"]); }
      }
      syncButtons();
    }

    ui.layer.addEventListener("change", function () { syncHelp(); formChanged(); });
    [ui.file, ui.crs, ui.coords, ui.sheet, ui.district, ui.encoding, ui.mappingFile].forEach(
      function (el) {
        el.addEventListener("change", formChanged);
        el.addEventListener("input", formChanged);
      });
    syncHelp();
    syncButtons();

    function showError(text, field, detail) {
      ui.error.hidden = !text;
      ui.error.innerHTML = text ? esc(text) + (detail ? "<div class=\"gm-import-detail\">"
                                               + esc(detail) + "</div>" : "") : "";
      form.querySelectorAll(".is-invalid").forEach(function (el) {
        el.classList.remove("is-invalid");
      });
      var input = field && form.querySelector("[name=" + field + "]");
      if (input) { input.classList.add("is-invalid"); }
    }

    function requestMessage(err) {
      var text = err.code && T["import.err_" + err.code];
      return text ? fmt(text, {mb: int(S.max_bytes / 1048576)}) : err.message;
    }

    // --- the progress bar ----------------------------------------------------------------------
    // value: a percentage, null for "under way, how far unknown", false for "stopped" (a
    // full red bar); moving: striped and animated whatever the value (all rows are read, the
    // check goes on)
    function setBar(value, text, tone, moving) {
      ui.barWrap.hidden = false;
      var bar = ui.bar;
      bar.classList.remove("bg-success", "bg-danger", "progress-bar-striped",
                           "progress-bar-animated");
      if (value === false) {
        bar.style.width = "100%";
        bar.removeAttribute("aria-valuenow");
        bar.textContent = "";
        tone = "bg-danger";
      } else if (value == null) {
        bar.classList.add("progress-bar-striped", "progress-bar-animated");
        bar.style.width = "100%";
        bar.removeAttribute("aria-valuenow");
        bar.textContent = "";
      } else {
        var pct = Math.max(0, Math.min(100, value));
        bar.style.width = pct.toFixed(1) + "%";
        bar.setAttribute("aria-valuenow", String(Math.round(pct)));
        bar.textContent = Math.round(pct) + "%";
      }
      if (moving) { bar.classList.add("progress-bar-striped", "progress-bar-animated"); }
      if (tone) { bar.classList.add(tone); }
      ui.status.textContent = text || "";
    }

    function jobProgress(job) {
      var phase = job.phase;
      if (phase === "counting") { setBar(null, T["import.counting"]); return; }
      if (phase === "preview") { setBar(null, T["import.previewing"]); return; }
      if (phase === "osm") { setBar(null, T["import.osm_running"]); return; }
      if (phase === "checking" || phase === "committing") {
        setBar(100, T["import." + phase] + " " + fmt(T["import.read_n"], {read: int(job.read)}),
               null, true);
        return;
      }
      if (job.total && job.read) {
        setBar(100 * job.read / job.total,
               fmt(T["import.read_of"], {read: int(job.read), total: int(job.total)}));
      } else {
        setBar(null, job.read ? fmt(T["import.read_n"], {read: int(job.read)})
               : T["import.reading"]);
      }
    }

    // --- the upload and the job ----------------------------------------------------------------
    // the form with the file, or naming the check whose kept upload to import (fromJob)
    function upload(dryRun, fromJob) {
      var data = new FormData();
      data.append("layer", ui.layer.value);
      if (fromJob) {
        data.append("from_job", fromJob);
      } else {
        Array.prototype.forEach.call(ui.file.files, function (f) { data.append("files", f); });
      }
      var values = optionValues();
      OPTIONS.forEach(function (name) {
        if (values[name] !== "") { data.append(name, values[name]); }
      });
      data.append("dry_run", dryRun ? "1" : "0");
      return new Promise(function (resolve, reject) {
        var xhr = new XMLHttpRequest();
        xhr.open("POST", S.urls.start);
        xhr.setRequestHeader("Accept", "application/json");
        xhr.upload.onprogress = function (e) {
          if (!fromJob && e.lengthComputable && e.total) {
            var pct = 100 * e.loaded / e.total;
            setBar(pct, fmt(T["import.uploading"], {pct: Math.round(pct) + "%"}));
          }
        };
        xhr.onload = function () {
          var json = {};
          try { json = JSON.parse(xhr.responseText); } catch (e) { json = {}; }
          if (xhr.status >= 400) {
            var err = new Error(json.error || (xhr.status + " " + xhr.statusText));
            err.code = json.code || null;
            err.field = json.field || null;
            reject(err);
          } else {
            resolve(json);
          }
        };
        xhr.onerror = function () { reject(new Error(T["import.request_failed"])); };
        xhr.send(data);
      });
    }

    function jobUrl(id, withPreview) {
      return S.urls.job.replace("JOB", encodeURIComponent(id)) + (withPreview ? "" : "?preview=0");
    }

    function follow(id, dryRun) {
      var drawn = false;
      return new Promise(function (resolve, reject) {
        function tick() {
          getJson(jobUrl(id, false)).then(function (job) {
            api.job = job;
            if (job.state === "running") {
              jobProgress(job);
              if (dryRun && job.preview_ready && !drawn) {
                drawn = true;
                return getJson(jobUrl(id, true)).then(function (full) {
                  drawPreview(full.preview, []);
                  setTimeout(tick, POLL_MS);
                });
              }
              setTimeout(tick, POLL_MS);
              return null;
            }
            // finished: once more with the preview, whose rejected rows are now known
            if (!dryRun) { resolve(job); return null; }
            return getJson(jobUrl(id, true)).then(resolve);
          }).catch(reject);
        }
        setTimeout(tick, 150);
      });
    }

    // --- the map -------------------------------------------------------------------------------
    function popup(feature) {
      var p = feature.properties;
      var rows = (p.attrs || []).map(function (a) {
        return "<tr><th>" + esc(a[0]) + "</th><td>" + esc(a[1]) + "</td></tr>";
      }).join("");
      return "<div class=\"gm-popup\"><div class=\"gm-popup-title\">"
        + esc(fmt(T["import.popup_row"], {row: p.row})) + "</div><table>" + rows
        + "</table></div>";
    }

    function drawPreview(preview, rejectedRows) {
      group.clearLayers();
      layerOfRow = {};
      api.preview = preview;
      api.features = 0;
      if (!preview) { ui.previewNote.textContent = ""; return; }
      var bad = {};
      (rejectedRows || preview.rejected_rows || []).forEach(function (r) { bad[r] = true; });
      var n = preview.features.length;
      if (!preview.geometry) {
        ui.previewNote.textContent = T["import.preview_none"];
        return;
      }
      ui.previewNote.textContent = fmt(T[preview.truncated ? "import.preview_some"
                                         : "import.preview_all"], {n: int(n)});
      if (!n) { return; }
      function style(feature) {
        var red = bad[feature.properties.row];
        var color = red ? S.colors.rejected : S.colors.feature;
        return {color: color, weight: red ? 2 : 1.2, opacity: 0.95, fillColor: color,
                fillOpacity: red ? 0.45 : 0.3,
                className: red ? "gm-preview gm-rejected" : "gm-preview"};
      }
      previewLayer = L.geoJSON(preview, {
        style: style,
        pointToLayer: function (feature, latlng) {
          return L.circleMarker(latlng, Object.assign({radius: 6}, style(feature)));
        },
        onEachFeature: function (feature, layer) {
          layer.bindPopup(function () { return popup(feature); }, {maxWidth: 360});
          layerOfRow[feature.properties.row] = layer;
        },
      }).addTo(group);
      api.features = n;
      var bounds = previewLayer.getBounds();
      if (bounds.isValid()) { map.fitBounds(bounds, {padding: [24, 24], maxZoom: 18}); }
    }

    function zoomToRow(row) {
      var layer = layerOfRow[row];
      if (!layer) { return; }
      if (layer.getBounds) {
        map.fitBounds(layer.getBounds(), {padding: [60, 60], maxZoom: 19});
      } else {
        map.setView(layer.getLatLng(), Math.max(map.getZoom(), 18));
      }
      layer.openPopup();
    }

    // --- the report ----------------------------------------------------------------------------
    function count(label, value, bad) {
      return "<div" + (bad ? " class=\"gm-bad\"" : "") + "><b>" + esc(value) + "</b><span>"
        + esc(label) + "</span></div>";
    }

    function showVerdict(ok, text) {
      ui.verdict.hidden = !text;
      ui.verdict.className = "gm-verdict " + (ok ? "gm-ok" : "gm-no");
      ui.verdict.textContent = text || "";
    }

    function rowList(tbody, rows) {
      tbody.innerHTML = rows.map(function (e) {
        var row = e.row == null ? T["import.row_file"] : int(e.row);
        return "<tr" + (e.row == null ? "" : " data-row=\"" + e.row + "\"") + "><td>"
          + esc(row) + "</td><td>" + esc(e.field) + "</td><td>" + esc(e.message) + "</td></tr>";
      }).join("");
    }

    function fieldText(f) {
      return S.lang === "zh" ? f.label : f.label + " (" + f.name + ")";
    }

    function renderReport(job) {
      // a file that could not be read has no report worth showing: the error says it all
      var r = job.state === "done" || job.error_kind === "rejected" ? job.report : null;
      ui.report.hidden = !r;
      if (!r) { return; }
      ui.reportTitle.textContent = T[job.dry_run ? "import.result_check" : "import.result_import"]
        + " · " + (S.layer_names[r.layer] || r.layer) + " · " + job.source;
      if (r.layer === "osm") {
        renderOsm(r.osm || {});
        return;
      }
      if (r.layer === "network") {
        var n = r.network || {};
        ui.counts.innerHTML = count(T["import.net_lines"], int(n.lines))
          + count(T["import.net_nodes"], int(n.nodes)) + count(T["import.net_edges"], int(n.edges))
          + count(T["import.net_components"], int(n.components))
          + count(T["import.net_length"], n.length_km == null ? "—" : n.length_km.toFixed(1));
        [ui.rejectedBlock, ui.mappingBlock, ui.repairedBlock, ui.notesBlock].forEach(
          function (el) { el.hidden = true; });
        return;
      }
      ui.counts.innerHTML = count(T["import.count_read"], int(r.read))
        + count(T["import.count_inserted"], int(r.inserted))
        + count(T["import.count_updated"], int(r.updated))
        + count(T["import.count_unchanged"], int(r.unchanged))
        + count(T["import.count_rejected"], int(r.rejected_rows), r.rejected_rows > 0);
      ui.rejectedBlock.hidden = !r.rejected.length;
      ui.rejectedCount.textContent = int(r.rejected_rows);
      rowList(ui.rejected, r.rejected);
      ui.rejectedMore.textContent = r.rejected_total > r.rejected.length
        ? fmt(T["import.more_rows"], {n: int(r.rejected_total - r.rejected.length)}) : "";
      var headers = Object.keys(r.fields || {});
      ui.mappingBlock.hidden = !headers.length;
      ui.mapping.innerHTML = headers.map(function (h) {
        return "<tr><td>" + esc(h) + "</td><td>" + esc(fieldText(r.fields[h])) + "</td></tr>";
      }).join("");
      ui.ignored.textContent = r.ignored_columns.length ? T["import.ignored"] + T["punct.colon"]
        + r.ignored_columns.join(S.lang === "zh" ? "、" : ", ") : "";
      ui.repairedBlock.hidden = !r.repaired.length;
      ui.repairedCount.textContent = int(r.repaired_total);
      rowList(ui.repaired, r.repaired);
      ui.notesBlock.hidden = !r.notes.length;
      ui.notes.innerHTML = r.notes.map(function (t) { return "<li>" + esc(t) + "</li>"; })
        .join("");
    }

    function renderOsm(o) {
      function pair() {
        return Array.prototype.map.call(arguments, int).join(" / ");
      }
      ui.counts.innerHTML = count(T["import.osm_buildings"], int(o.buildings))
        + count(T["import.osm_residential"], int(o.residential))
        + count(T["import.osm_households"], int(o.households))
        + count(T["import.osm_residents"], int(o.residents))
        + count(T["import.osm_centres"], int(o.centres))
        + count(T["import.osm_walkways"], int(o.walkways))
        + count(T["import.osm_edges"], int(o.edges))
        + count(T["import.osm_streets"], pair(o.streets_created, o.streets_kept))
        + count(T["import.osm_communities"], pair(o.communities_created, o.communities_kept))
        + count(T["import.osm_written"], pair(o.buildings_inserted, o.buildings_updated,
                                              o.buildings_unchanged));
      [ui.rejectedBlock, ui.mappingBlock, ui.repairedBlock].forEach(function (el) {
        el.hidden = true;
      });
      var notes = [fmt(T["import.osm_district"], {code: o.district, name: o.district_name})];
      if (o.buildings_outside) {
        notes.push(fmt(T["import.osm_outside"], {n: int(o.buildings_outside)}));
      }
      notes = notes.concat(o.notes || []);
      ui.notesBlock.hidden = false;
      ui.notes.innerHTML = notes.map(function (t) { return "<li>" + esc(t) + "</li>"; }).join("");
    }

    [ui.rejected, ui.repaired].forEach(function (tbody) {
      tbody.addEventListener("click", function (e) {
        var tr = e.target.closest("tr[data-row]");
        if (tr) { zoomToRow(Number(tr.getAttribute("data-row"))); }
      });
    });

    function renderResult(job) {
      var r = job.report || {};
      var o = r.osm || {};
      var text = r.layer === "osm"
        ? fmt(T["import.imported_osm"], {inserted: int(o.buildings_inserted),
                                         updated: int(o.buildings_updated),
                                         unchanged: int(o.buildings_unchanged),
                                         edges: int(o.edges)})
        : r.layer === "network"
          ? fmt(T["import.imported_network"], {edges: int((r.network || {}).edges),
                                               nodes: int((r.network || {}).nodes)})
          : fmt(T["import.imported"], {layer: S.layer_names[job.layer] || job.layer,
                                       inserted: int(r.inserted), updated: int(r.updated),
                                       unchanged: int(r.unchanged)});
      ui.result.hidden = false;
      ui.result.innerHTML = "<div class=\"gm-adopted\" id=\"gm-imported\">" + esc(text)
        + "<div class=\"gm-links mt-1\">" + esc(T["import.see"]) + " <a href=\""
        + esc(S.urls.map) + "\">" + esc(T["nav.map"]) + "</a> · <a href=\""
        + esc(S.urls.coverage) + "\">" + esc(T["nav.coverage"]) + "</a></div></div>";
    }

    // --- check and import ----------------------------------------------------------------------
    function run(dryRun) {
      if (busy) { return; }
      showError("");
      if (!ui.file.files.length) {
        showError(T["import.err_file_missing"], "files");
        return;
      }
      var size = Array.prototype.reduce.call(ui.file.files, function (s, f) {
        return s + f.size;
      }, 0);
      if (size > S.max_bytes) {
        showError(fmt(T["import.err_too_large"], {mb: int(S.max_bytes / 1048576)}), "files");
        return;
      }
      if (ui.layer.value === "osm" && !DISTRICT_RE.test(ui.district.value.trim())) {
        // said before a large extract is uploaded for nothing
        showError(T[ui.district.value.trim() ? "import.err_district"
                    : "import.err_district_missing"], "district");
        return;
      }
      var sig = signature();
      var reuse = !dryRun && checked === sig ? checkedJob : null;
      busy = true;
      syncButtons();
      ui.result.hidden = true;
      if (dryRun) {
        checked = null;
        ui.report.hidden = true;
        drawPreview(null);
      }
      if (dryRun) { checkedJob = null; }
      api.reused = false;
      var sent;
      if (reuse) {
        setBar(null, T["import.reusing"]);
        sent = upload(false, reuse).then(function (started) {
          checkedJob = null;  // a kept upload serves one import
          api.reused = true;
          return started;
        }, function (err) {
          if (!UPLOAD_AGAIN[err.code]) { throw err; }  // e.g. busy: the upload is still kept
          checkedJob = null;
          setBar(0, fmt(T["import.uploading"], {pct: "0%"}));
          return upload(false, null);
        });
      } else {
        setBar(0, fmt(T["import.uploading"], {pct: "0%"}));
        sent = upload(dryRun, null);
      }
      sent.then(function (started) {
        return follow(started.job, dryRun);
      }).then(function (job) {
        api.last = job;
        if (dryRun) { drawPreview(job.preview, null); }
        renderReport(job);
        var done = job.state === "done";
        var osm = job.layer === "osm" ? "osm_" : "";
        var word = done ? T["import.done_" + osm + (dryRun ? "check" : "import")]
          : T["import.failed"];
        setBar(done ? 100 : false, fmt(word, {read: int(job.read), s: job.seconds}),
               done ? "bg-success" : "bg-danger");
        if (!done) {
          var head = {rejected: "import.refused", unreadable: "import.unreadable",
                      internal: "import.internal"}[job.error_kind] || "import.unreadable";
          if (dryRun || job.error_kind !== "rejected") {
            showError(T[head], null, job.error);
          } else {
            showError(T[head], null, null);
          }
          if (!ui.report.hidden) { showVerdict(false, T[head]); }
          return;
        }
        if (dryRun) {
          var rejected = job.report.rejected_rows || 0;
          if (rejected) {
            showVerdict(false, fmt(T["import.fix_first"], {n: int(rejected)}));
          } else {
            showVerdict(true, T["import.ready"]);
            checked = sig;
            checkedJob = job.reusable ? job.job : null;
          }
        } else {
          showVerdict(true, "");
          ui.verdict.hidden = true;
          checked = null;  // checked again before importing again
          renderResult(job);
        }
      }).catch(function (err) {
        setBar(false, T["import.failed"]);
        // a mapping file's own message says which line is wrong
        showError(requestMessage(err), err.field || null,
                  err.code === "mapping" ? err.message : null);
      }).then(function () {
        busy = false;
        syncButtons();
      });
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      run(true);
    });
    ui.run.addEventListener("click", function () { run(false); });
  }

  window.gmImportPage = init;
})();
