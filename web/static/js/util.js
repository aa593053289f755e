/* Small helpers shared by the pages' scripts: escaping, templates, numbers, JSON requests.
 *
 * window.gmUtil = {esc, fmt, int, pct, requestJson}; load this file before a page's script.
 */
(function () {
  "use strict";

  var ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;",
                 "`": "&#96;", "$": "&#36;"};

  // text safe inside HTML (element content and quoted attributes)
  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"'`$]/g, function (c) {
      return ESCAPES[c];
    });
  }

  // "{name} 共 {n} 栋" with values filled in; unknown keys stay as they are
  function fmt(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (all, key) {
      return key in values ? values[key] : all;
    });
  }

  function int(value) {
    return value == null ? "—" : Math.round(value).toLocaleString("en-US");
  }

  function pct(share, digits) {
    return share == null ? "—" : (share * 100).toFixed(digits == null ? 1 : digits) + "%";
  }

  // fetch JSON; a non-2xx answer rejects with an Error carrying the server's error, code, field
  function requestJson(url, init) {
    var options = init || {};
    options.headers = Object.assign({"Accept": "application/json"}, options.headers || {});
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (!response.ok) {
          var err = new Error(json.error || (response.status + " " + response.statusText));
          err.code = json.code || null;
          err.field = json.field || null;
          err.status = response.status;
          throw err;
        }
        return json;
      });
    });
  }

  window.gmUtil = {esc: esc, fmt: fmt, int: int, pct: pct, requestJson: requestJson};
}());
