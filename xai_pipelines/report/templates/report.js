// Every case of report.html: filters, side-by-side columns and paging over the
// embedded job records. Builds the DOM with text nodes only (no innerHTML), so
// nothing from a run can become markup.
(() => {
  "use strict";
  const T = JSON.parse(document.getElementById("xr-tables").textContent);
  const J = JSON.parse(document.getElementById("xr-jobs").textContent);
  const F = {};
  T.fields.forEach((name, i) => { F[name] = i; });
  J.sort((a, b) => a[F.order] - b[F.order]); // stable: plan order, then the order written
  const PAGE = T.page_size;
  const $ = (id) => document.getElementById(id);
  const ui = {
    failing: $("f-failing"), task: $("f-task"), model: $("f-model"), axis: $("f-axis"),
    text: $("f-text"), prev: $("p-prev"), next: $("p-next"), info: $("p-info"),
    head: document.querySelector("#xr-cases thead"), body: document.querySelector("#xr-cases tbody"),
  };
  const state = { page: 0, groups: null, axis: "", visible: [], haystack: null };

  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  const status = (r) => T.status[r[F.status]];
  const failing = (r) => r[F.status] === 1 || r[F.status] === 3;
  const cellOf = (r) => T.cells[r[F.cell]];

  // The matrix keys that take more than one value: the choices of "side by side".
  const axisValues = new Map();
  for (const r of J) {
    const cell = cellOf(r);
    for (const k of Object.keys(cell)) {
      if (!axisValues.has(k)) axisValues.set(k, []);
      const seen = axisValues.get(k);
      if (!seen.includes(cell[k])) seen.push(cell[k]);
    }
  }
  for (const [k, values] of axisValues) {
    if (values.length < 2) continue;
    ui.axis.append(new Option(k, k));
  }
  const option = (select, names) => names.forEach((n, i) => select.append(new Option(n, String(i))));
  option(ui.task, T.tasks);
  option(ui.model, T.models);
  if ([...ui.axis.options].some((o) => o.value === "model")) ui.axis.value = "model";
  else if (ui.axis.options.length > 1) ui.axis.selectedIndex = 1;

  // Jobs that differ only in the axis value share a group (task, row, repeat, other matrix values).
  function buildGroups(axis) {
    const rest = T.cells.map((c) => {
      const o = {};
      for (const k of Object.keys(c)) if (k !== axis) o[k] = c[k];
      return JSON.stringify(o);
    });
    const byKey = new Map();
    const groups = [];
    J.forEach((r, i) => {
      const lone = !axis || !(axis in cellOf(r));
      const key = lone ? "\u0002" + i
        : [r[F.task], r[F.row], r[F.repeat], rest[r[F.cell]]].join("\u0001");
      let g = byKey.get(key);
      if (!g) { g = []; byKey.set(key, g); groups.push(g); }
      g.push(i);
    });
    return groups;
  }

  function haystack(i) {
    if (!state.haystack) state.haystack = new Array(J.length);
    let h = state.haystack[i];
    if (h === undefined) {
      const r = J[i];
      const parts = [r[F.id], T.tasks[r[F.task]], T.models[r[F.model]]];
      parts.push(...Object.values(cellOf(r)));
      if (r[F.vars] >= 0) parts.push(...Object.values(T.vars[r[F.vars]]));
      if (r[F.prompt] >= 0) parts.push(T.prompts[r[F.prompt]]);
      const answer = r[F.answer];
      if (answer !== null) parts.push(Array.isArray(answer) ? answer.join(" ") : answer);
      for (const a of r[F.assertions]) parts.push(T.labels[a[0]], T.reasons[a[2]]);
      if (r[F.error]) parts.push(r[F.error][0], r[F.error][1]);
      h = parts.join("\n").toLowerCase();
      state.haystack[i] = h;
    }
    return h;
  }

  function filters() {
    const text = ui.text.value.trim();
    const id = text.startsWith("id:") ? text.slice(3).trim() : null;
    return {
      failing: ui.failing.checked,
      task: ui.task.value === "" ? -1 : Number(ui.task.value),
      model: ui.model.value === "" ? -1 : Number(ui.model.value),
      id: id,
      text: id === null ? text.toLowerCase() : "",
    };
  }

  function matches(i, f) {
    const r = J[i];
    if (f.task >= 0 && r[F.task] !== f.task) return false;
    if (f.model >= 0 && r[F.model] !== f.model) return false;
    if (f.id !== null && r[F.id] !== f.id) return false;
    if (f.text && !haystack(i).includes(f.text)) return false;
    return true;
  }

  // Filters choose jobs; a case shows when one of its jobs is chosen. "Failing only"
  // keeps the cases with a failing job, with the rest of the case beside it.
  function apply() {
    if (state.axis !== ui.axis.value || !state.groups) {
      state.axis = ui.axis.value;
      state.groups = buildGroups(state.axis);
    }
    const f = filters();
    const visible = [];
    for (const g of state.groups) {
      const chosen = g.filter((i) => matches(i, f));
      if (!chosen.length) continue;
      if (f.failing && !chosen.some((i) => failing(J[i]))) continue;
      visible.push(chosen);
    }
    state.visible = visible;
    state.page = 0;
    render();
  }

  function columns(cases) {
    if (!state.axis) return [null];
    const present = new Set();
    for (const c of cases) for (const i of c) {
      const cell = cellOf(J[i]);
      if (state.axis in cell) present.add(cell[state.axis]);
    }
    const order = axisValues.get(state.axis) || [];
    const cols = order.filter((v) => present.has(v));
    return cols.length ? cols : [null];
  }

  function chips(parent, entries, cls) {
    if (!entries.length) return;
    const box = el("div", "chips " + (cls || ""));
    for (const [k, v] of entries) box.append(el("span", "chip", k + ": " + v));
    parent.append(box);
  }

  function caseCell(chosen, sharedPrompt) {
    const td = el("td", "case");
    const r = J[chosen[0]];
    td.append(el("div", "task", T.tasks[r[F.task]]));
    const other = Object.entries(cellOf(r)).filter(([k]) => k !== state.axis);
    const where = [];
    if (r[F.vars] >= 0) where.push(["row", String(r[F.row])]);
    if (r[F.repeat]) where.push(["repeat", String(r[F.repeat])]);
    chips(td, where.concat(other), "where");
    if (r[F.vars] >= 0) chips(td, Object.entries(T.vars[r[F.vars]]), "vars");
    if (sharedPrompt >= 0) td.append(el("div", "prompt", T.prompts[sharedPrompt]));
    return td;
  }

  function jobBlock(td, i, showPrompt) {
    const r = J[i];
    const st = status(r);
    td.classList.add(st);
    const head = el("div", "jobhead");
    head.append(el("code", "id", r[F.id]));
    head.append(el("span", "badge " + st, st));
    if (r[F.cached]) head.append(el("span", "badge cached", "cached"));
    if (state.axis !== "model") head.append(el("span", "note", T.models[r[F.model]]));
    if (r[F.latency] !== null) head.append(el("span", "note", r[F.latency].toFixed(3) + " s"));
    td.append(head);
    const prompt = r[F.prompt] >= 0 ? T.prompts[r[F.prompt]] : null;
    if (showPrompt && prompt !== null) td.append(el("div", "prompt", prompt));
    const answer = r[F.answer];
    if (Array.isArray(answer)) {
      const box = el("div", "thumbs");
      for (const path of answer) {
        const fig = el("figure");
        const link = el("a");
        link.href = encodeURI(path);
        const img = el("img");
        img.src = encodeURI(path);
        img.loading = "lazy";
        img.alt = prompt || path;
        link.append(img);
        fig.append(link, el("figcaption", "", prompt || path));
        box.append(fig);
      }
      td.append(box);
      if (r[F.length] > answer.length) {
        td.append(el("div", "note", r[F.length] + " images made, " + answer.length + " saved"));
      }
    } else if (answer !== null) {
      td.append(el("div", "answer", answer));
      const notes = [];
      if (r[F.length] > answer.length) notes.push("cut: " + r[F.length].toLocaleString() + " characters in all");
      if (r[F.outputs] > 1) notes.push("first of " + r[F.outputs] + " answers");
      if (notes.length) td.append(el("div", "note", notes.join(" · ")));
    }
    if (r[F.error]) {
      const err = el("div", "err");
      err.append(el("b", "", r[F.error][0] + ": "), document.createTextNode(r[F.error][1]));
      td.append(err);
    }
    if (r[F.assertions].length) {
      const list = el("ul", "asserts");
      for (const [labelAt, ok, reasonAt] of r[F.assertions]) {
        const label = T.labels[labelAt];
        const reason = T.reasons[reasonAt];
        const li = el("li", ok ? "pass" : "fail");
        li.append(el("b", "", (ok ? "✓ " : "✗ ") + label), document.createTextNode(reason ? ": " + reason : ""));
        list.append(li);
      }
      td.append(list);
    }
  }

  function render() {
    const cases = state.visible;
    const pages = Math.max(1, Math.ceil(cases.length / PAGE));
    state.page = Math.min(Math.max(0, state.page), pages - 1);
    const shown = cases.slice(state.page * PAGE, (state.page + 1) * PAGE);
    const cols = columns(shown);
    const head = el("tr");
    head.append(el("th", "case", "case"));
    for (const c of cols) head.append(el("th", "col", c === null ? "answer" : state.axis + ": " + c));
    ui.head.replaceChildren(head);
    const rows = [];
    for (const chosen of shown) {
      const tr = el("tr", "case-row");
      const prompts = new Set(chosen.map((i) => J[i][F.prompt]));
      const shared = prompts.size === 1 ? J[chosen[0]][F.prompt] : -1;
      tr.append(caseCell(chosen, shared));
      const lone = chosen.length === 1 && !(state.axis in cellOf(J[chosen[0]]));
      if (lone || cols[0] === null) {
        const td = el("td", "job");
        td.colSpan = cols.length;
        for (const i of chosen) jobBlock(td, i, shared < 0);
        tr.append(td);
      } else {
        for (const c of cols) {
          const td = el("td", "job");
          const here = chosen.filter((i) => cellOf(J[i])[state.axis] === c);
          if (!here.length) td.classList.add("empty");
          for (const i of here) jobBlock(td, i, shared < 0);
          tr.append(td);
        }
      }
      rows.push(tr);
    }
    if (!rows.length) {
      const tr = el("tr");
      const td = el("td", "muted", "No case matches the filters.");
      td.colSpan = cols.length + 1;
      tr.append(td);
      rows.push(tr);
    }
    ui.body.replaceChildren(...rows);
    const jobs = cases.reduce((n, c) => n + c.length, 0);
    const first = cases.length ? state.page * PAGE + 1 : 0;
    ui.info.textContent = "page " + (state.page + 1) + " of " + pages + " · cases " + first + "–" +
      (state.page * PAGE + shown.length) + " of " + cases.length + " (" + jobs + " jobs)";
    ui.prev.disabled = state.page === 0;
    ui.next.disabled = state.page >= pages - 1;
  }

  function fromHash() {
    const m = /^#job=(.*)$/.exec(location.hash);
    if (!m) return false;
    ui.text.value = "id:" + decodeURIComponent(m[1]);
    ui.failing.checked = false;
    ui.task.value = "";
    ui.model.value = "";
    apply();
    $("cases").scrollIntoView();
    return true;
  }

  let timer = 0;
  ui.text.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(apply, 150); });
  for (const c of [ui.failing, ui.task, ui.model, ui.axis]) c.addEventListener("change", apply);
  $("xr-controls").addEventListener("submit", (e) => { e.preventDefault(); apply(); });
  ui.prev.addEventListener("click", () => { state.page -= 1; render(); });
  ui.next.addEventListener("click", () => { state.page += 1; render(); });
  window.addEventListener("hashchange", fromHash);
  if (!fromHash()) apply();
  document.body.dataset.readyMs = String(Math.round(performance.now())); // for tests and curious readers
  document.body.dataset.ready = "1";
})();
