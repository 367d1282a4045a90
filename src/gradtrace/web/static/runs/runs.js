// The run browser's pages: the list of run folders, and one run folder (or several compared) a study at a time.
// The server gives the words (gt-config) and the data (/api/runs...); this script only lays them out.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("gt-config").textContent);
  const W = config.words;
  const lang = config.lang;
  const app = document.getElementById("app");
  const POLL_MS = 5000;

  function fill(template, values) {
    return template.replace(/\{(\w+)(:[^}]*)?\}/g, (m, key) => (key in values ? values[key] : m));
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }
  function encodeFolder(folder) {
    return folder.split("/").map(encodeURIComponent).join("/");
  }
  function withLang(url) {
    return url + (url.includes("?") ? "&" : "?") + "lang=" + lang;
  }
  async function api(path) {
    const response = await fetch(withLang(path), { headers: { Accept: "application/json" } });
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) {
      const error = new Error((body && body.detail) || response.statusText);
      error.status = response.status;
      throw error;
    }
    return body;
  }
  function number(value, digits) {
    const text = value.toFixed(digits);
    return lang === "pt" ? text.replace(".", ",") : text;
  }
  function minutes(seconds) {
    return seconds === null || seconds === undefined ? "–" : fill(W.minutes, { minutes: number(seconds / 60, 1) });
  }

  // -- the header ---------------------------------------------------------------------------------------------
  function nav() {
    const here = new URL(window.location.href);
    here.searchParams.set("lang", lang === "en" ? "pt" : "en");
    const box = document.getElementById("nav");
    box.append(
      el("a", { href: withLang("/runs") }, W.all_folders),
      el("a", { href: "/" }, W.playground),
      el("span", { class: "spacer" }),
      el("a", { href: here.pathname + here.search + here.hash, hreflang: lang === "en" ? "pt" : "en" }, W.language),
    );
  }

  // -- the list of run folders ----------------------------------------------------------------------------------
  async function listPage() {
    app.replaceChildren(el("h1", {}, W.runs_title), el("p", { class: "muted" }, W.loading));
    let data;
    try {
      data = await api("/api/runs");
    } catch (error) {
      app.replaceChildren(el("h1", {}, W.runs_title), el("p", { class: "error" }, fill(W.failed, { message: error.message })));
      return;
    }
    const ticked = new Set(Array.from(document.querySelectorAll("input.pick:checked")).map((box) => box.value));
    const intro = el("p", {}, fill(W.runs_intro, { root: data.root }));
    if (!data.folders.length) {
      app.replaceChildren(el("h1", {}, W.runs_title), el("p", { class: "note" }, fill(W.none, { root: data.root })));
      return;
    }
    const button = el("button", { type: "button", disabled: true }, W.compare);
    const hint = el("span", { class: "muted" }, " " + fill(W.compare_hint, { count: config.max_compared }));
    const rows = data.folders.map((f) => {
      const tally = f.claims && f.claims.total ? `${f.claims.held} / ${f.claims.total}` : "–";
      const all = f.claims && f.claims.total && f.claims.held === f.claims.total;
      const state = el("span", { class: "badge " + f.state }, W["state." + f.state]);
      const detail = f.state === "damaged" ? el("div", { class: "problem" }, f.problem)
        : f.state === "writing" ? el("div", { class: "meta" }, f.writer) : null;
      return el("tr", { "data-folder": f.folder },
        el("td", {}, el("input", { type: "checkbox", class: "pick", value: f.folder, "aria-label": W["col.compare"] + " " + f.folder,
          checked: ticked.has(f.folder), disabled: f.state === "damaged" || f.state === "empty", onchange: sync })),
        el("td", { class: "folder" }, f.state === "damaged" || f.state === "empty" ? el("span", {}, f.folder)
          : el("a", { href: withLang("/runs/" + encodeFolder(f.folder)) }, f.folder)),
        el("td", { class: "num" }, f.written),
        el("td", { class: "studies" }, f.studies.map((s) => s.title).join(" · ") || "–"),
        el("td", { class: "num" }, el("span", { class: f.claims && f.claims.total ? (all ? "held" : "not-held") : "" }, tally)),
        el("td", { class: "num" }, minutes(f.wall_seconds)),
        el("td", {}, f.studies.length ? el("span", { class: "badge" + (f.quick ? " quick" : "") }, f.quick ? W["mode.quick"] : W["mode.full"]) : "–"),
        el("td", {}, state, detail));
    });
    const head = ["col.compare", "col.folder", "col.written", "col.studies", "col.claims", "col.wall", "col.mode", "col.state"];
    const table = el("table", { class: "folders" }, el("thead", {}, el("tr", {}, head.map((key) => el("th", {}, W[key])))),
      el("tbody", {}, rows));
    function sync() {
      const picked = Array.from(document.querySelectorAll("input.pick:checked")).map((box) => box.value);
      button.disabled = picked.length < 2 || picked.length > config.max_compared;
      button.onclick = () => {
        const [first, ...others] = picked;
        window.location.href = withLang("/runs/" + encodeFolder(first) + "?" + others.map((o) => "with=" + encodeURIComponent(o)).join("&"));
      };
    }
    app.replaceChildren(el("h1", {}, W.runs_title), intro, table, el("p", {}, button, hint));
    sync();
    if (data.folders.some((f) => f.state === "writing")) setTimeout(listPage, POLL_MS);
  }

  // -- one run folder, or several compared ------------------------------------------------------------------------
  const folders = config.folders;
  const compared = folders.length > 1;
  let overviews = [];
  let current = null;
  let shown = "";
  let charts = [];

  async function runPage() {
    const heading = el("h1", {}, compared ? fill(W.compared, { count: folders.length }) : folders[0]);
    app.replaceChildren(heading, el("p", { class: "muted" }, W.loading));
    try {
      overviews = await Promise.all(folders.map((f) => api("/api/runs/" + encodeFolder(f))));
    } catch (error) {
      app.replaceChildren(heading, el("p", { class: "error" }, fill(W.failed, { message: error.message })));
      return;
    }
    const studies = [];
    const titles = {};
    for (const o of overviews) for (const s of o.studies) { if (!(s.name in titles)) { studies.push(s.name); titles[s.name] = s.title; } }
    const heads = overviews.map((o) => {
      const parts = [];
      if (o.claims && o.claims.total) {
        let line = fill(W.overview, o.claims);
        if (o.wall_seconds !== null && o.wall_seconds !== undefined) line += " " + fill(W["overview.wall"], { minutes: number(o.wall_seconds / 60, 1) });
        parts.push(el("span", { class: o.claims.held === o.claims.total ? "held" : "not-held" }, line));
      }
      const report = el("a", { href: withLang("/runs/" + encodeFolder(o.folder) + "/report"), download: "" }, W.download);
      return el("div", { class: compared ? "column" : "" },
        compared ? el("div", { class: "column-head" }, el("a", { href: withLang("/runs/" + encodeFolder(o.folder)) }, o.folder)) : null,
        el("p", { class: "overview" }, ...parts, parts.length ? " " : "", el("span", { class: "badge " + o.state }, W["state." + o.state])),
        o.state === "writing" ? el("p", { class: "note" }, fill(W.writer, { writer: o.writer })) : null,
        o.state === "damaged" ? el("p", { class: "error" }, o.problem) : null,
        o.studies.length ? el("p", {}, report) : null);
    });
    const aside = el("aside", { class: "studies" }, el("h3", {}, W.studies), el("ol", {}, studies.map((name) => {
      const tallies = overviews.map((o) => {
        const s = o.studies.find((t) => t.name === name);
        if (!s) return el("span", { class: "muted" }, "–");
        const c = s.claims;
        return el("span", { class: c.total ? (c.held === c.total ? "held" : "not-held") : "muted" }, c.total ? `${c.held}/${c.total}` : "·");
      });
      const tally = el("span", { class: "tally" });
      tallies.forEach((t, i) => { if (i) tally.append(" · "); tally.append(t); });
      return el("li", {}, el("a", { href: "#" + name, "data-study": name }, titles[name], tally));
    })));
    const body = el("div", { id: "section" });
    const headBlock = compared ? el("div", { class: "columns", style: `grid-template-columns: repeat(${folders.length}, 1fr)` }, heads) : heads[0];
    app.replaceChildren(heading, headBlock, el("p", { class: "hint" }, W.hint), el("div", { class: "layout" }, aside, body));
    const wanted = decodeURIComponent(window.location.hash.slice(1));
    await open(studies.includes(wanted) ? wanted : studies[0]);
    window.onhashchange = () => {
      const name = decodeURIComponent(window.location.hash.slice(1));
      if (studies.includes(name) && name !== current) open(name);
    };
    if (overviews.some((o) => o.state === "writing")) setTimeout(refresh, POLL_MS);
  }

  async function refresh() {
    // A live run: what finished since shows up; the section is drawn again only when its data changed.
    try {
      const now = await Promise.all(folders.map((f) => api("/api/runs/" + encodeFolder(f))));
      if (JSON.stringify(now.map((o) => o.studies)) !== JSON.stringify(overviews.map((o) => o.studies))) {
        await runPage();
        return;
      }
      if (current) await open(current, true);
    } catch (error) { /* the next poll tries again */ }
    if (overviews.some((o) => o.state === "writing")) setTimeout(refresh, POLL_MS);
  }

  async function open(name, quiet) {
    if (!name) return;
    current = name;
    for (const a of document.querySelectorAll("aside.studies a")) a.classList.toggle("current", a.dataset.study === name);
    const box = document.getElementById("section");
    if (!quiet) box.replaceChildren(el("p", { class: "muted" }, W.drawing));
    const sections = await Promise.all(folders.map(async (f, i) => {
      if (!overviews[i].studies.some((s) => s.name === name)) return { absent: true };
      try { return await api("/api/runs/" + encodeFolder(f) + "/studies/" + encodeURIComponent(name)); }
      catch (error) { return { error: error.message }; }
    }));
    const text = JSON.stringify(sections);
    if (quiet && text === shown) return;
    shown = text;
    if (current !== name) return;
    for (const chart of charts) chart.destroy();
    charts = [];
    box.replaceChildren(compared ? comparison(sections) : single(sections[0]));
    drawPending(box);
  }

  // Charts are made once their box is in the page (their width is known).
  let pending = [];
  function later(host, panel, sync) { pending.push({ host, panel, sync }); }
  function drawPending(root) {
    for (const { host, panel, sync } of pending) {
      const cols = Number(host.dataset.cols || 1);
      const rows = Number(host.dataset.rows || 1);
      const width = Math.max(220, Math.floor((host.parentElement.clientWidth - (cols - 1) * 20) / cols) * (panel.colspan || 1));
      const height = rows > 1 ? 250 : compared ? 260 : 310;
      charts.push(GT.chart(host, panel, { width, height, lang, sync }));
    }
    pending = [];
  }

  function claimsList(section) {
    if (!section.claims.length) return null;
    return el("ul", { class: "claims" }, section.claims.map((c) => el("li", { "data-claim": c.name },
      el("span", { class: c.held ? "held" : "not-held" }, c.held ? section.held_word : section.not_held_word), " ", c.sentence)));
  }
  function notes(section) {
    return section.notes.map((n) => el("div", { class: "note " + n.kind }, el("p", {}, n.text),
      n.items && n.items.length ? el("ul", {}, n.items.map((i) => el("li", {}, i))) : null, n.after ? el("p", {}, n.after) : null));
  }
  function figureBody(figure, syncKey) {
    if (!figure.plot) {
      return el("div", {}, el("img", { class: "static", src: figure.image, alt: figure.title }),
        el("p", { class: "meta" }, fill(W.static, { reason: figure.static_reason })));
    }
    const grid = el("div", { class: "panels", style: `grid-template-columns: repeat(${figure.plot.cols}, minmax(0, 1fr))` });
    figure.plot.panels.forEach((panel, p) => {
      const host = el("div", { style: `grid-row: ${panel.row + 1} / span ${panel.rowspan}; grid-column: ${panel.col + 1} / span ${panel.colspan}`,
        "data-cols": figure.plot.cols, "data-rows": figure.plot.rows });
      grid.appendChild(host);
      later(host, panel, syncKey ? syncKey + "-" + p : null);
    });
    return grid;
  }
  function tableOf(t) {
    const numeric = /^[\s\d.,:;%+\-−–×/=()\[\]eE→~≈<>≤≥·^]*\d[\s\d.,:;%+\-−–×/=()\[\]eE→~≈<>≤≥·^]*$/;
    return el("div", {}, el("h3", {}, t.title), el("div", { class: "table-wrap" }, el("table", { class: "data" },
      el("tr", {}, t.columns.map((c) => el("th", {}, c))),
      t.rows.map((row) => el("tr", {}, row.map((cell) => el("td", { class: numeric.test(cell) ? "num" : "" }, cell)))))),
      t.caption ? el("p", { class: "meta" }, t.caption) : null);
  }
  function heading(section) {
    return [el("h2", {}, section.title), section.question ? el("p", { class: "question" }, section.question) : null,
      section.description ? el("p", {}, section.description) : null];
  }

  function single(section) {
    if (section.error) return el("p", { class: "error" }, fill(W.failed, { message: section.error }));
    return el("div", {}, heading(section), claimsList(section),
      section.claims_note ? el("p", { class: "note" }, section.claims_note) : null, notes(section),
      section.figures.map((f) => el("section", { class: "figure" }, el("h3", {}, f.title), figureBody(f, null),
        el("figcaption", {}, f.caption))),
      section.tables.map(tableOf), el("p", { class: "meta" }, section.footnote));
  }

  function comparison(sections) {
    const first = sections.find((s) => !s.absent && !s.error);
    const cols = `grid-template-columns: repeat(${folders.length}, minmax(0, 1fr))`;
    const head = (i) => el("div", { class: "column-head" }, folders[i]);
    if (!first) return el("div", {}, sections.map((s, i) => el("p", { class: "error" }, folders[i] + ": " + (s.error || W.absent))));
    // The claims, one row each, the verdict and sentence of every folder side by side.
    const names = [];
    for (const s of sections) if (s.claims) for (const c of s.claims) if (!names.includes(c.name)) names.push(c.name);
    const verdicts = names.length ? el("table", { class: "verdicts" },
      el("tr", {}, el("th", {}, W.claim), folders.map((f) => el("th", {}, f))),
      names.map((name) => el("tr", { "data-claim": name }, el("td", {}, name), sections.map((s) => {
        if (!s.claims) return el("td", { class: "muted" }, s.error || W.absent);
        const c = s.claims.find((k) => k.name === name);
        return c ? el("td", {}, el("span", { class: c.held ? "held" : "not-held" }, c.held ? s.held_word : s.not_held_word), " ", c.sentence)
          : el("td", { class: "muted" }, "–");
      })))) : null;
    const noteRow = el("div", { class: "columns", style: cols }, sections.map((s, i) => el("div", { class: "column" },
      s.claims ? [s.claims_note ? el("p", { class: "note" }, s.claims_note) : null, notes(s)] : null)));
    // The figures, matched by title, one column per folder; hovering one shows the same x in the others.
    const titles = [];
    for (const s of sections) if (s.figures) for (const f of s.figures) if (!titles.includes(f.title)) titles.push(f.title);
    const figures = titles.map((title, t) => {
      const caption = (sections.find((s) => s.figures && s.figures.some((f) => f.title === title)).figures.find((f) => f.title === title)).caption;
      return el("section", { class: "figure" }, el("h3", {}, title),
        el("div", { class: "columns", style: cols }, sections.map((s, i) => {
          const f = s.figures && s.figures.find((g) => g.title === title);
          return el("div", { class: "column" }, head(i), f ? figureBody(f, "fig" + t) : el("p", { class: "muted" }, s.error || W.absent));
        })),
        el("figcaption", {}, caption));
    });
    const tables = el("div", { class: "columns", style: cols }, sections.map((s, i) => el("div", { class: "column" },
      head(i), s.tables ? s.tables.map(tableOf) : null, s.footnote ? el("p", { class: "meta" }, s.footnote) : null)));
    return el("div", {}, heading(first), verdicts, noteRow, figures, tables);
  }

  // A narrower or wider window lays the charts out again (a taller one, as a full-page screenshot makes, does not).
  let resizing = null;
  let drawnWidth = window.innerWidth;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      if (!current || window.innerWidth === drawnWidth) return;
      drawnWidth = window.innerWidth;
      shown = "";
      open(current, true);
    }, 300);
  });

  nav();
  if (config.page === "list") listPage();
  else runPage();
})();
