/* evalkit report: the matrix of cases x columns, drawn from the embedded JSON.
   Everything from the data is written as text nodes (never as HTML), so outputs holding
   markup or script stay inert. Nothing is fetched. */
(function () {
  "use strict";
  var PAGE = 50;
  var CUT = 180;
  var node = document.getElementById("report-data");
  if (!node) { return; }
  var DATA = JSON.parse(node.textContent);
  var $ = function (id) { return document.getElementById(id); };
  var state = { suite: 0, page: 0, search: "", failing: false, flipped: false, disagree: false,
                tag: "", scorer: "", sort: "id", desc: false, open: null, rows: [] };
  var prepared = [];

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function prepare(i) {
    if (prepared[i]) { return prepared[i]; }
    var s = DATA.suites[i];
    var outs = [];
    s.cells.forEach(function (cell, c) {
      var o = cell.o.slice();
      for (var k = 0; k < o.length; k++) {
        if (typeof o[k] === "number") { o[k] = outs[o[k]][k]; }
      }
      outs.push(o);
    });
    var tags = {};
    s.cases.tags.forEach(function (list) { list.forEach(function (t) { tags[t] = true; }); });
    prepared[i] = { s: s, outs: outs, tags: Object.keys(tags).sort(), hay: null, decides: {} };
    return prepared[i];
  }

  function inputOf(p, c, k) {
    var ref = p.s.inputs[p.s.cells[c]["in"]];
    var mid = ref.mid[k];
    return mid === null || mid === undefined ? "" : ref.pre + mid + ref.suf;
  }

  function haystack(p) {
    if (p.hay) { return p.hay; }
    var s = p.s, n = s.cases.id.length, hay = new Array(n);
    var inputs = s.inputs.map(function (ref) { return ref.mid; });
    for (var k = 0; k < n; k++) {
      var parts = [s.cases.id[k], s.cases.vars[k], s.cases.ref[k] || ""];
      for (var m = 0; m < inputs.length; m++) { if (inputs[m][k]) { parts.push(inputs[m][k]); } }
      for (var c = 0; c < p.outs.length; c++) { if (p.outs[c][k]) { parts.push(p.outs[c][k]); } }
      hay[k] = parts.join("\u0001").toLowerCase();
    }
    p.hay = hay;
    return hay;
  }

  function decides(p, name) {
    if (!(name in p.decides)) {
      p.decides[name] = p.s.cells.some(function (cell) { return /[01]/.test(cell.p[name]); });
    }
    return p.decides[name];
  }

  function status(p, c, k) {
    var cell = p.s.cells[c];
    if (state.scorer && decides(p, state.scorer)) {
      if (cell.s.charAt(k) === "m") { return "m"; }
      var mark = cell.p[state.scorer].charAt(k);
      return mark === "1" ? "p" : mark === "0" ? "f" : "u";
    }
    return cell.s.charAt(k);
  }

  function filter() {
    var t0 = performance.now();
    var p = prepare(state.suite), s = p.s, n = s.cases.id.length, cols = s.cells.length;
    var q = state.search.trim().toLowerCase();
    var hay = q ? haystack(p) : null;
    var rows = [];
    for (var k = 0; k < n; k++) {
      if (state.flipped && s.cases.flip.charAt(k) === "0") { continue; }
      if (state.tag && s.cases.tags[k].indexOf(state.tag) < 0) { continue; }
      if (state.failing || state.disagree) {
        var fails = 0, seen = "", differ = false;
        for (var c = 0; c < cols; c++) {
          var st = status(p, c, k);
          if (st === "f") { fails++; }
          if (st !== "m") { if (seen && st !== seen) { differ = true; } seen = seen || st; }
        }
        if (state.failing && !fails) { continue; }
        if (state.disagree && !differ) { continue; }
      }
      if (hay && hay[k].indexOf(q) < 0) { continue; }
      rows.push(k);
    }
    sortRows(p, rows);
    state.rows = rows;
    state.filterMs = performance.now() - t0;
  }

  function sortRows(p, rows) {
    var s = p.s, key = state.sort, dir = state.desc ? -1 : 1, get = null;
    if (key === "id") {
      if (state.desc) { rows.reverse(); }
      return;
    }
    if (key === "failing") {
      get = function (k) {
        var f = 0;
        for (var c = 0; c < s.cells.length; c++) { if (status(p, c, k) === "f") { f++; } }
        return f;
      };
    } else {
      var parts = key.split(":");
      var c = +parts[parts.length - 1];
      if (parts[0] === "l") {
        get = function (k) { return s.cells[c].l[k]; };
      } else {
        var name = parts.slice(1, parts.length - 1).join(":");
        get = function (k) { return s.cells[c].v[name][k]; };
      }
    }
    var keyed = rows.map(function (k) { return [get(k), k]; });
    keyed.sort(function (a, b) {
      var x = a[0], y = b[0];
      if (x === null || x === undefined) { return (y === null || y === undefined) ? a[1] - b[1] : 1; }
      if (y === null || y === undefined) { return -1; }
      return x < y ? -dir : x > y ? dir : a[1] - b[1];
    });
    for (var i = 0; i < rows.length; i++) { rows[i] = keyed[i][1]; }
  }

  function fmt(v) {
    if (v === null || v === undefined) { return "—"; }
    var a = Math.abs(v);
    return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(a >= 1 ? 2 : 3);
  }

  function colLabel(col) { return col.sideLabel + " · " + col.prompt + " · " + col.provider; }

  function renderHead(p) {
    var head = $("matrix-head");
    head.textContent = "";
    var tr = el("tr");
    tr.appendChild(el("th", "case-col", "case"));
    p.s.columns.forEach(function (col) {
      var th = el("th", col.side === "baseline" ? "baseline-col" : "");
      th.appendChild(el("div", "side", col.sideLabel));
      th.appendChild(el("div", "", col.prompt));
      th.appendChild(el("div", "stat", col.provider + (col.model ? " (" + col.model + ")" : "")));
      Object.keys(col.stats).forEach(function (name) {
        th.appendChild(el("div", "stat", name + ": " + col.stats[name]));
      });
      tr.appendChild(th);
    });
    head.appendChild(tr);
  }

  function cellText(p, c, k) {
    var cell = p.s.cells[c];
    var out = p.outs[c][k];
    if (cell.e[k] !== undefined) { return "call failed: " + cell.e[k]; }
    if (out === null || out === undefined) { return cell.s.charAt(k) === "m" ? "not run" : "(no output)"; }
    if (out === "") { return "(empty output)"; }
    return out.length > CUT ? out.slice(0, CUT) + "…" : out;
  }

  function renderRows() {
    var p = prepare(state.suite), s = p.s, body = $("cases");
    var total = state.rows.length, pages = Math.max(1, Math.ceil(total / PAGE));
    if (state.page >= pages) { state.page = pages - 1; }
    var start = state.page * PAGE, end = Math.min(total, start + PAGE);
    body.textContent = "";
    var frag = document.createDocumentFragment();
    var marks = { p: "✓", f: "✗", u: "?", m: "·" };
    for (var r = start; r < end; r++) {
      var k = state.rows[r];
      var tr = el("tr", "case");
      tr.setAttribute("data-case", s.cases.id[k]);
      tr.setAttribute("data-index", String(k));
      var first = el("td", "case-col");
      first.appendChild(el("span", "mono", s.cases.id[k]));
      var flip = s.cases.flip.charAt(k);
      if (flip !== "0") {
        first.appendChild(el("span", "flipmark " + (flip === "2" ? "good" : "bad"),
          flip === "1" ? "pass → fail" : flip === "2" ? "fail → pass" : "flipped"));
      }
      s.cases.tags[k].forEach(function (t) { first.appendChild(document.createTextNode(" ")); first.appendChild(el("span", "tag", t)); });
      tr.appendChild(first);
      for (var c = 0; c < s.cells.length; c++) {
        var st = status(p, c, k);
        var td = el("td", "cell " + st);
        td.appendChild(el("span", "mark", marks[st] || ""));
        td.appendChild(document.createTextNode(cellText(p, c, k)));
        var extra = [];
        if (s.cells[c].k[k]) { extra.push(s.cells[c].k[k] + " repeats passed"); }
        if (state.scorer) { extra.push(state.scorer + " " + fmt(s.cells[c].v[state.scorer][k])); }
        if (extra.length) { td.appendChild(el("span", "sv", extra.join(" · "))); }
        tr.appendChild(td);
      }
      frag.appendChild(tr);
      if (state.open === k) { tr.className += " open"; frag.appendChild(detailRow(p, k)); }
    }
    body.appendChild(frag);
    var n = s.cases.id.length;
    $("count").textContent = total === n ? n + " cases" : total + " of " + n + " cases";
    $("page-info").textContent = total ? "showing " + (start + 1) + "–" + end + " of " + total : "no case matches";
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
  }

  /* word diff: longest common subsequence of words, whitespace and marks */
  var TOKENS = /\s+|[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu;
  function diff(a, b) {
    var x = a.match(TOKENS) || [], y = b.match(TOKENS) || [];
    var n = x.length, m = y.length;
    if (n * m > 4000000) { return null; }
    var w = m + 1, table = new Uint32Array((n + 1) * w);
    for (var i = n - 1; i >= 0; i--) {
      for (var j = m - 1; j >= 0; j--) {
        table[i * w + j] = x[i] === y[j] ? table[(i + 1) * w + j + 1] + 1
          : Math.max(table[(i + 1) * w + j], table[i * w + j + 1]);
      }
    }
    var left = [], right = [];
    i = 0; j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && x[i] === y[j]) { left.push([0, x[i]]); right.push([0, y[j]]); i++; j++; }
      else if (j < m && (i >= n || table[i * w + j + 1] >= table[(i + 1) * w + j])) { right.push([1, y[j]]); j++; }
      else { left.push([1, x[i]]); i++; }
    }
    return [left, right];
  }

  function marked(parts, tag) {
    var pre = el("pre", "out");
    parts.forEach(function (part) {
      if (part[0] && part[1].trim()) { pre.appendChild(el(tag, "", part[1])); }
      else { pre.appendChild(document.createTextNode(part[1])); }
    });
    return pre;
  }

  function detailRow(p, k) {
    var s = p.s;
    var tr = el("tr", "detail-row");
    var td = el("td");
    td.colSpan = s.cells.length + 1;
    var head = el("p");
    head.appendChild(el("b", "mono", s.cases.id[k]));
    s.cases.tags[k].forEach(function (t) { head.appendChild(document.createTextNode(" ")); head.appendChild(el("span", "tag", t)); });
    td.appendChild(head);
    if (s.cases.vars[k]) { var v = el("p"); v.appendChild(el("span", "muted", "vars ")); v.appendChild(document.createTextNode(s.cases.vars[k])); td.appendChild(v); }
    if (s.cases.ref[k] !== null) { var r = el("div"); r.appendChild(el("span", "muted", "reference")); r.appendChild(el("pre", "out", s.cases.ref[k])); td.appendChild(r); }
    var grid = el("div", "detail-grid");
    s.columns.forEach(function (col, c) {
      var box = el("div", "detail-col");
      var st = s.cells[c].s.charAt(k);
      box.appendChild(el("h5", "", colLabel(col) + " — " + ({ p: "pass", f: "fail", u: "undecided", m: "not run" })[st]));
      if (st === "m") { grid.appendChild(box); return; }
      if (s.cells[c].k[k]) { box.appendChild(el("div", "muted", s.cells[c].k[k] + " repeats passed (the output shown is a failing one, if any)")); }
      if (s.cells[c].e[k] !== undefined) { box.appendChild(el("p", "err", "call failed: " + s.cells[c].e[k])); }
      var out = p.outs[c][k] || "";
      var other = col.versus;
      var d = null;
      if (other !== null && other !== undefined && p.outs[other][k] !== null && p.outs[other][k] !== undefined && p.outs[other][k] !== out) {
        d = diff(p.outs[other][k], out);
      }
      if (d) {
        box.appendChild(el("div", "muted", "diff against " + colLabel(s.columns[other])));
        box.appendChild(marked(d[1], "ins"));
      } else {
        box.appendChild(el("pre", "out", out));
      }
      var list = el("ul");
      s.scorers.forEach(function (sc) {
        var mark = s.cells[c].p[sc.name].charAt(k);
        var value = s.cells[c].v[sc.name][k];
        var shown = sc.boolean && mark !== "-" ? (mark === "1" ? "✓ pass" : "✗ fail")
          : (mark === "1" ? "✓ " : mark === "0" ? "✗ " : "") + fmt(value);
        var li = el("li", mark === "1" ? "good" : mark === "0" ? "bad" : "", sc.name + ": " + shown);
        var det = (s.cells[c].d[sc.name] || {})[k];
        if (det) { li.appendChild(el("div", "muted", det)); }
        list.appendChild(li);
      });
      box.appendChild(list);
      var ms = s.cells[c].l[k];
      if (ms !== null) { box.appendChild(el("div", "muted", "latency " + (ms >= 1000 ? (ms / 1000).toFixed(2) + " s" : Math.round(ms) + " ms"))); }
      var ex = (s.cells[c].t || {})[k];
      if (ex) {
        var conv = el("details", "exchange");
        conv.open = true;
        conv.appendChild(el("summary", "", "the exchange, request by request (" + ex.length + ")"));
        var ol = el("ol");
        ex.forEach(function (st) {
          var li = el("li");
          li.appendChild(el("div", "muted", "turn " + st[0] + " · request " + st[1]));
          st[2].forEach(function (m) { li.appendChild(el("pre", "sent", m)); });
          if (st[3]) { li.appendChild(el("pre", "out", st[3])); }
          st[4].forEach(function (call) { li.appendChild(el("div", "mono", "→ tool call " + call)); });
          if (st[5]) { li.appendChild(el("div", "err", "ended: " + st[5])); }
          ol.appendChild(li);
        });
        conv.appendChild(ol);
        box.appendChild(conv);
      }
      var inp = el("details", "input");
      inp.appendChild(el("summary", "", "input the model saw"));
      inp.appendChild(el("pre", "", inputOf(p, c, k)));
      box.appendChild(inp);
      grid.appendChild(box);
    });
    td.appendChild(grid);
    tr.appendChild(td);
    return tr;
  }

  function fillControls() {
    var p = prepare(state.suite), s = p.s;
    var tag = $("tag-filter"), scorer = $("scorer-filter"), sort = $("sort");
    [tag, scorer, sort].forEach(function (sel) { while (sel.options.length > 1) { sel.remove(1); } });
    p.tags.forEach(function (t) { tag.appendChild(new Option(t, t)); });
    s.scorers.forEach(function (sc) { scorer.appendChild(new Option(sc.name, sc.name)); });
    sort.appendChild(new Option("failing columns", "failing"));
    s.scorers.forEach(function (sc) {
      s.columns.forEach(function (col, c) { sort.appendChild(new Option(sc.name + " · " + colLabel(col), "v:" + sc.name + ":" + c)); });
    });
    s.columns.forEach(function (col, c) { sort.appendChild(new Option("latency · " + colLabel(col), "l:" + c)); });
    state.tag = ""; state.scorer = ""; state.sort = "id";
    document.querySelectorAll("[data-suite]").forEach(function (e) {
      if (e.classList.contains("dists")) { e.hidden = e.getAttribute("data-suite") !== s.suite; }
    });
    renderHead(p);
  }

  function update(keepPage) {
    if (!keepPage) { state.page = 0; }
    filter();
    renderRows();
  }

  function bind(id, ev, fn) { var e = $(id); if (e) { e.addEventListener(ev, fn); } }
  bind("search", "input", function (e) { state.search = e.target.value; update(); });
  bind("only-failing", "change", function (e) { state.failing = e.target.checked; update(); });
  bind("only-flipped", "change", function (e) { state.flipped = e.target.checked; update(); });
  bind("only-disagreeing", "change", function (e) { state.disagree = e.target.checked; update(); });
  bind("tag-filter", "change", function (e) { state.tag = e.target.value; update(); });
  bind("scorer-filter", "change", function (e) { state.scorer = e.target.value; update(); });
  bind("sort", "change", function (e) { state.sort = e.target.value; update(); });
  bind("sort-dir", "click", function (e) { state.desc = !state.desc; e.target.textContent = state.desc ? "↓" : "↑"; update(); });
  bind("prev", "click", function () { state.page--; state.open = null; renderRows(); });
  bind("next", "click", function () { state.page++; state.open = null; renderRows(); });
  bind("suite-select", "change", function (e) { state.suite = +e.target.value; state.open = null; fillControls(); update(); });
  bind("cases", "click", function (e) {
    var t = e.target;
    while (t && t !== this && !(t.classList && t.classList.contains("case"))) {
      if (t.classList && t.classList.contains("detail-row")) { return; }
      t = t.parentNode;
    }
    if (!t || t === this) { return; }
    var k = +t.getAttribute("data-index");
    state.open = state.open === k ? null : k;
    renderRows();
  });
  document.querySelectorAll("button.to-matrix").forEach(function (b) {
    b.addEventListener("click", function () {
      var name = b.getAttribute("data-suite");
      DATA.suites.forEach(function (s, i) {
        if (s.suite === name && i !== state.suite) {
          state.suite = i; var sel = $("suite-select"); if (sel) { sel.value = String(i); } fillControls();
        }
      });
      state.flipped = true; $("only-flipped").checked = true; update();
      $("matrix").scrollIntoView();
    });
  });
  window.evalkitReport = { state: state, update: update };
  if (DATA.suites.length) {
    fillControls();
    update();
    if (performance.mark) { performance.mark("evalkit-ready"); }
    var idle = window.requestIdleCallback || function (f) { return setTimeout(f, 200); };
    idle(function () { haystack(prepare(state.suite)); });
  }
})();
