// The gradtrace playground: settings in the URL, training over a websocket (protocol: gradtrace/web/playground.py),
// uPlot for the curves, a canvas for the heatmap. Plain JS, no build step.
"use strict";
(function () {
  const STRINGS = window.GRADTRACE_STRINGS;
  const RECURRENT_INITS = ["uniform", "orthogonal", "xavier_normal", "kaiming_normal", "identity"];
  const MLP_INITS = ["uniform", "xavier_normal", "kaiming_normal", "orthogonal"];
  const SEQUENCE_TASKS = ["adding", "temporal_order", "copy_memory"];
  const PLANE_TASKS = ["xor", "circles", "spiral", "sin", "adding"];
  const TASK_WORDS = {
    en: { adding: "adding problem", temporal_order: "temporal order", copy_memory: "copy (memory)", xor: "XOR",
          circles: "circles", spiral: "spiral", sin: "sin x" },
    pt: { adding: "problema da soma", temporal_order: "ordem temporal", copy_memory: "cópia (memória)", xor: "XOU (XOR)",
          circles: "círculos", spiral: "espiral", sin: "sen x" },
  };
  const INIT_WORDS = { uniform: "uniform (torch default)", orthogonal: "orthogonal", xavier_normal: "Xavier (normal)",
                       kaiming_normal: "Kaiming (normal)", identity: "identity (IRNN)" };
  const DEFAULTS = { network: "elman", activation: "tanh", task: "adding", length: 100, depth: 10, hidden_size: 32,
    init: "orthogonal", spectral_radius: 0.9, optimizer: "adam", lr: 0.001, steps: 500, batch_size: 32, members: 1,
    seed: 0, clip_norm: null, clip_value: null, truncation: null, omega: null };
  const NUMERIC = ["length", "depth", "hidden_size", "spectral_radius", "lr", "steps", "batch_size", "members", "seed"];
  const REMEDIES = ["clip_norm", "clip_value", "truncation", "omega"];
  const MAX_HEAT_ROWS = 600;
  const $ = (id) => document.getElementById(id);

  const state = {
    lang: "en", settings: { ...DEFAULTS }, socket: null, phase: "idle", // idle | queued | running | paused | done
    axis: "time", length: 0, steps: [], loss: [], clipSteps: [], clipLoss: [], clips: 0, startProfile: null,
    profile: null, heat: [], frames: 0, firstFrameAt: null, startedAt: null, pendingStart: false,
  };

  // ---------------------------------------------------------------- words
  function t(key, values) {
    let text = (STRINGS[state.lang] && STRINGS[state.lang][key]) || STRINGS.en[key] || key;
    for (const [name, value] of Object.entries(values || {})) text = text.replace(`{${name}}`, value);
    return text;
  }
  function translatePage() {
    document.documentElement.lang = state.lang === "pt" ? "pt-BR" : "en";
    for (const element of document.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
    for (const button of document.querySelectorAll(".lang button")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === state.lang));
    }
    fillChoices();
    labelAxis();
    updatePlayButton();
  }
  function fmt(value, digits = 3) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "–";
    const text = Math.abs(value) >= 1e4 || (Math.abs(value) < 1e-3 && value !== 0)
      ? value.toExponential(2) : value.toPrecision(digits);
    return state.lang === "pt" ? text.replace(".", ",") : text;
  }

  // ---------------------------------------------------------------- settings and the URL
  function readUrl() {
    const query = new URLSearchParams(location.search);
    state.lang = query.get("lang") === "pt" ? "pt" : "en";
    for (const [key, fallback] of Object.entries(DEFAULTS)) {
      if (!query.has(key)) continue;
      const raw = query.get(key);
      if (REMEDIES.includes(key)) state.settings[key] = raw === "" || raw === "off" ? null : Number(raw);
      else if (NUMERIC.includes(key)) { const n = Number(raw); if (Number.isFinite(n)) state.settings[key] = n; }
      else state.settings[key] = raw;
      if (typeof fallback === "number" && !Number.isFinite(state.settings[key])) state.settings[key] = fallback;
    }
  }
  function writeUrl() {
    const query = new URLSearchParams();
    if (state.lang !== "en") query.set("lang", state.lang);
    for (const [key, fallback] of Object.entries(DEFAULTS)) {
      const value = state.settings[key];
      if (value !== fallback && !(value === null && fallback === null)) query.set(key, value === null ? "off" : String(value));
    }
    const search = query.toString();
    history.replaceState(null, "", search ? `?${search}` : location.pathname);
  }
  function showValue(key) {
    const out = $(`${key}-out`), value = state.settings[key];
    if (out) out.textContent = Number.isInteger(value) && key !== "spectral_radius" ? String(value) : fmt(value, 3);
  }
  function fillChoices() {
    const s = state.settings;
    const recurrent = s.network !== "mlp";
    const tasks = recurrent ? SEQUENCE_TASKS : PLANE_TASKS;
    if (!tasks.includes(s.task)) s.task = tasks[0];
    const inits = recurrent ? RECURRENT_INITS : MLP_INITS;
    if (!inits.includes(s.init)) s.init = recurrent ? "orthogonal" : "xavier_normal";
    fillSelect($("task"), tasks, (v) => TASK_WORDS[state.lang][v], s.task);
    fillSelect($("init"), inits, (v) => INIT_WORDS[v], s.init);
  }
  function fillSelect(select, values, word, chosen) {
    select.replaceChildren(...values.map((value) => {
      const option = document.createElement("option");
      option.value = value; option.textContent = word(value); option.selected = value === chosen;
      return option;
    }));
  }
  function showSettings() {
    const s = state.settings;
    fillChoices();
    for (const key of ["network", "activation", "optimizer"]) $(key).value = s[key];
    for (const key of NUMERIC) { $(key).value = s[key]; showValue(key); }
    for (const key of REMEDIES) {
      $(`${key}-on`).checked = s[key] !== null;
      if (s[key] !== null) $(key).value = s[key];
      $(key).disabled = s[key] === null;
    }
    const recurrent = s.network !== "mlp";
    for (const el of document.querySelectorAll(".recurrent-only")) el.classList.toggle("hidden", !recurrent);
    for (const el of document.querySelectorAll(".mlp-only")) el.classList.toggle("hidden", recurrent);
    for (const el of document.querySelectorAll(".elman-only")) el.classList.toggle("hidden", s.network !== "elman");
    $("activation").disabled = !(s.network === "elman" || s.network === "mlp");
    document.querySelector('[for="length"] span').textContent = t(s.task === "copy_memory" ? "length_copy" : "length");
  }
  // The settings as the server takes them: remedies that do not apply are left out.
  function payload() {
    const s = { ...state.settings };
    if (s.network === "mlp") { s.truncation = null; s.spectral_radius = null; }
    if (s.network !== "elman") s.omega = null;
    return s;
  }
  function readControl(key) {
    const s = state.settings;
    if (REMEDIES.includes(key)) {
      const on = $(`${key}-on`).checked;
      $(key).disabled = !on;
      const n = Number($(key).value);
      s[key] = on && Number.isFinite(n) ? n : null;
    } else if (NUMERIC.includes(key)) {
      const n = Number($(key).value);
      if (Number.isFinite(n)) s[key] = n;
    } else {
      s[key] = $(key).value;
    }
  }
  function onSettingChanged(key) {
    readControl(key);
    showSettings();
    writeUrl();
    const live = state.phase === "running" || state.phase === "paused";
    if (key === "spectral_radius" && live && state.axis === "time") {
      send({ type: "set", spectral_radius: state.settings.spectral_radius });
      setStatus(t("st_rho_live", { rho: fmt(state.settings.spectral_radius) }));
    } else if (live || state.phase === "queued") {
      start(true);
    }
  }

  // ---------------------------------------------------------------- the connection
  function connect() {
    return new Promise((resolve) => {
      if (state.socket && state.socket.readyState === WebSocket.OPEN) { resolve(state.socket); return; }
      setStatus(t("st_connecting"));
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const socket = new WebSocket(`${scheme}://${location.host}/api/playground/ws`);
      socket.onmessage = (event) => onMessage(JSON.parse(event.data));
      socket.onopen = () => resolve(socket);
      socket.onclose = () => { if (state.socket === socket) { state.socket = null; if (state.phase !== "idle" && state.phase !== "done") { state.phase = "done"; setStatus(t("st_lost"), true); updatePlayButton(); } } };
      state.socket = socket;
    });
  }
  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(message));
  }
  async function start(restarted) {
    clearCharts();
    state.phase = "queued";
    state.startedAt = performance.now(); state.firstFrameAt = null;
    await connect();
    send({ type: "start", settings: payload() });
    if (restarted) setStatus(t("st_restarted"));
    updatePlayButton();
  }
  function onMessage(message) {
    switch (message.type) {
      case "hello": setStatus(t("st_ready")); break;
      case "queued": state.phase = "queued"; setStatus(t("st_queued", { position: message.position })); break;
      case "refused": state.phase = "done"; setStatus(t("st_refused", message), true); break;
      case "started":
        state.phase = "running"; state.axis = message.axis; state.length = message.path_length;
        labelAxis(); setStatus(t("st_started")); break;
      case "frame": onFrame(message); break;
      case "paused": state.phase = "paused"; setStatus(t("st_paused", { step: message.step + 1 })); break;
      case "finished":
        state.phase = "done";
        if (message.status === "finished") {
          const accuracy = message.final && message.final.accuracy !== null && message.final.accuracy !== undefined
            ? `${fmt(100 * message.final.accuracy, 3)} %` : "–";
          setStatus(t("st_finished", { step: message.step, seconds: fmt(message.seconds, 3), accuracy }));
        } else setStatus(t("st_stopped"));
        break;
      case "error":
        if (message.code === "settings" || message.code === "training") state.phase = "done";
        setStatus(t("st_error", { message: message.message }), true); break;
    }
    updatePlayButton();
  }

  // ---------------------------------------------------------------- frames
  function onFrame(frame) {
    if (state.firstFrameAt === null) state.firstFrameAt = performance.now();
    state.frames += 1;
    frame.steps.forEach((step, i) => {
      state.steps.push(step + 1); state.loss.push(frame.loss[i]);
      if (frame.clipped[i]) { state.clips += 1; state.clipSteps.push(step + 1); state.clipLoss.push(frame.loss[i]); }
    });
    state.profile = frame.profile;
    if (state.startProfile === null) state.startProfile = frame.profile;
    state.heat.push(frame.profile);
    if (state.heat.length > MAX_HEAT_ROWS) state.heat = state.heat.filter((_, i) => i % 2 === 0 || i === state.heat.length - 1);
    drawProfile(); drawLoss(); drawHeatmap();
    $("v-step").textContent = frame.step + 1;
    $("v-loss").textContent = fmt(state.loss.length ? state.loss[state.loss.length - 1] : null);
    $("v-rate").textContent = fmt(frame.decay_rate, 3);
    const verdict = frame.decay_rate === null ? "" : frame.decay_rate < 0.97 ? "vanishing" : frame.decay_rate > 1.03 ? "exploding" : "steady";
    $("v-verdict").textContent = verdict ? t(verdict) : ""; $("v-verdict").className = `verdict ${verdict}`;
    $("v-horizon").textContent = frame.horizon === null ? "–" : t("horizon_steps", { h: Math.round(frame.horizon), n: state.length });
    $("v-rho").textContent = fmt(frame.spectral_radius, 3);
    $("v-clips").textContent = state.clips;
  }
  function clearCharts() {
    Object.assign(state, { steps: [], loss: [], clipSteps: [], clipLoss: [], clips: 0, startProfile: null, profile: null,
                           heat: [], frames: 0 });
    for (const id of ["v-step", "v-loss", "v-rate", "v-horizon", "v-rho", "v-clips"]) $(id).textContent = "–";
    $("v-verdict").textContent = "";
    drawProfile(); drawLoss(); drawHeatmap();
  }

  // ---------------------------------------------------------------- drawing
  let profilePlot = null, lossPlot = null;
  function width(element) { return Math.max(300, element.clientWidth - 4); }
  // Decades only, every k-th one so that at most eight are labelled: 22 decades of a vanished
  // gradient would otherwise print on top of each other.
  function decades(u, axisIdx, min, max) {
    if (!(min > 0) || !(max > 0)) return [];
    const lo = Math.floor(Math.log10(min)), hi = Math.ceil(Math.log10(max));
    const stride = Math.max(1, Math.ceil((hi - lo) / 8)), out = [];
    for (let e = hi; e >= lo; e -= stride) out.unshift(Number(`1e${e}`));
    return out;
  }
  function makePlots() {
    const profileBox = $("profile-plot"), lossBox = $("loss-plot");
    profilePlot = new uPlot({
      width: width(profileBox), height: 300, scales: { x: { time: false }, y: { distr: 3 } },
      axes: [{ label: t("axis_t"), stroke: "#15202b", grid: { stroke: "#e3e8ee" }, incrs: [1, 2, 5, 10, 20, 50, 100] },
             { label: "‖∂L/∂h‖", stroke: "#15202b", grid: { stroke: "#e3e8ee" }, size: 80, space: 26, splits: decades,
               values: (u, ticks) => ticks.map((v) => (v === null || v === undefined ? "" : v.toExponential(0))) }],
      series: [{ label: "t" }, { label: t("series_now"), stroke: "#1f5fbf", width: 3, spanGaps: false },
               { label: t("series_start"), stroke: "#8a96a3", width: 2, dash: [6, 5] }],
    }, [[], [], []], profileBox);
    lossPlot = new uPlot({
      width: width(lossBox), height: 260, scales: { x: { time: false }, y: { distr: 3 } },
      axes: [{ label: t("axis_step"), stroke: "#15202b", grid: { stroke: "#e3e8ee" } },
             { stroke: "#15202b", grid: { stroke: "#e3e8ee" }, size: 70, values: (u, ticks) => ticks.map((v) => (v === null || v === undefined ? "" : fmt(v, 2))) }],
      series: [{ label: t("card_step") }, { label: t("series_loss"), stroke: "#15202b", width: 2 },
               { label: t("series_clip"), stroke: "#b3261e", paths: () => null, points: { show: true, size: 7, fill: "#b3261e" } }],
    }, [[], [], []], lossBox);
    window.addEventListener("resize", () => {
      profilePlot.setSize({ width: width(profileBox), height: 300 });
      lossPlot.setSize({ width: width(lossBox), height: 260 });
    });
    window.playground = { state, profilePlot, lossPlot };
  }
  function labelAxis() {
    const depth = state.axis === "depth";
    if (profilePlot) { profilePlot.axes[0].label = t(depth ? "axis_layer" : "axis_t"); profilePlot.redraw(false, true); }
    $("profile-title").textContent = t(depth ? "profile_title_depth" : "profile_title");
    $("profile-hint").textContent = t(depth ? "profile_hint_depth" : "profile_hint");
  }
  function drawProfile() {
    if (!profilePlot) return;
    const profile = state.profile || [];
    const xs = profile.map((_, i) => i + 1);
    const start = state.startProfile && state.startProfile.length === profile.length ? state.startProfile : profile.map(() => null);
    profilePlot.setData([xs, profile, start]);
  }
  function drawLoss() {
    if (!lossPlot) return;
    // the clip markers share the loss's x values: null where no clip fired
    const clipped = new Map(state.clipSteps.map((step, i) => [step, state.clipLoss[i]]));
    lossPlot.setData([state.steps, state.loss.map((v) => (v !== null && v > 0 ? v : null)),
                      state.steps.map((step) => (clipped.has(step) ? clipped.get(step) : null))]);
  }
  // Viridis, sampled at nine points and interpolated.
  const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129],
                   [92, 200, 99], [170, 220, 50], [253, 231, 37]];
  function color(x) {
    const p = Math.min(1, Math.max(0, x)) * (VIRIDIS.length - 1), i = Math.min(VIRIDIS.length - 2, Math.floor(p)), f = p - i;
    return VIRIDIS[i].map((c, k) => Math.round(c + f * (VIRIDIS[i + 1][k] - c)));
  }
  function drawHeatmap() {
    const canvas = $("heatmap"), context = canvas.getContext("2d");
    const rows = state.heat, columns = rows.length ? rows[0].length : 0;
    if (!rows.length || !columns) { context.fillStyle = "#222"; context.fillRect(0, 0, canvas.width, canvas.height); return; }
    let lo = Infinity, hi = -Infinity;
    for (const row of rows) for (const v of row) if (v !== null && v > 0) { const l = Math.log10(v); if (l < lo) lo = l; if (l > hi) hi = l; }
    if (!Number.isFinite(lo)) { lo = -1; hi = 0; }
    lo = Math.max(lo, hi - 16); // at most sixteen decades: below that, everything is "vanished"
    if (hi - lo < 1e-9) hi = lo + 1;
    canvas.width = columns; canvas.height = rows.length;
    const image = context.createImageData(columns, rows.length);
    rows.forEach((row, r) => row.forEach((v, c) => {
      const k = 4 * (r * columns + c);
      const rgb = v !== null && v > 0 ? color((Math.log10(v) - lo) / (hi - lo)) : [34, 34, 34];
      image.data[k] = rgb[0]; image.data[k + 1] = rgb[1]; image.data[k + 2] = rgb[2]; image.data[k + 3] = 255;
    }));
    context.putImageData(image, 0, 0);
    $("cb-hi").textContent = `1e${hi.toFixed(0)}`; $("cb-lo").textContent = `1e${lo.toFixed(0)}`;
  }
  function drawColorbar() {
    const canvas = $("colorbar"), context = canvas.getContext("2d");
    for (let y = 0; y < canvas.height; y++) {
      const [r, g, b] = color(1 - y / (canvas.height - 1));
      context.fillStyle = `rgb(${r},${g},${b})`; context.fillRect(0, y, canvas.width, 1);
    }
  }

  // ---------------------------------------------------------------- controls
  function setStatus(text, error) { const el = $("status"); el.textContent = text; el.classList.toggle("error", Boolean(error)); }
  function updatePlayButton() {
    const play = $("play");
    play.textContent = t(state.phase === "running" ? "pause" : state.phase === "paused" ? "resume" : "play");
    $("step").disabled = !(state.phase === "paused" || state.phase === "running");
  }
  function onPlay() {
    if (state.phase === "running") send({ type: "pause" });
    else if (state.phase === "paused") { send({ type: "resume" }); state.phase = "running"; setStatus(t("st_started")); }
    else start(false);
    updatePlayButton();
  }
  async function exportStudy(format) {
    const response = await fetch("/api/playground/export", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ settings: payload(), format }),
    });
    const body = await response.json();
    if (!response.ok) { setStatus(t("st_error", { message: body.detail }), true); return; }
    $("export-text").value = body.text;
    $("export-heading").textContent = format === "toml" ? t("export_toml") : t("export_python");
    $("export-dialog").showModal();
  }
  function bind() {
    for (const key of ["network", "activation", "task", "init", "optimizer"]) $(key).addEventListener("change", () => onSettingChanged(key));
    for (const key of NUMERIC) {
      const event = $(key).type === "range" ? "input" : "change";
      $(key).addEventListener(event, () => { readControl(key); showValue(key); });
      $(key).addEventListener("change", () => onSettingChanged(key));
    }
    for (const key of REMEDIES) {
      $(`${key}-on`).addEventListener("change", () => onSettingChanged(key));
      $(key).addEventListener("change", () => onSettingChanged(key));
    }
    $("play").addEventListener("click", onPlay);
    $("step").addEventListener("click", () => send({ type: "step", count: 1 }));
    $("reset").addEventListener("click", () => { send({ type: "stop" }); state.phase = "idle"; clearCharts(); setStatus(t("st_ready")); updatePlayButton(); });
    $("export-toml").addEventListener("click", () => exportStudy("toml"));
    $("export-python").addEventListener("click", () => exportStudy("python"));
    $("export-close").addEventListener("click", () => $("export-dialog").close());
    $("export-copy").addEventListener("click", async () => { await navigator.clipboard.writeText($("export-text").value); setStatus(t("copied")); });
    $("share").addEventListener("click", async () => { writeUrl(); try { await navigator.clipboard.writeText(location.href); setStatus(t("link_copied")); } catch (e) { setStatus(location.href); } });
    for (const button of document.querySelectorAll(".lang button")) {
      button.addEventListener("click", () => { state.lang = button.dataset.lang; translatePage(); showSettings(); writeUrl(); rebuildPlots(); });
    }
  }
  function rebuildPlots() {
    profilePlot.destroy(); lossPlot.destroy(); makePlots(); labelAxis(); drawProfile(); drawLoss();
  }

  readUrl();
  makePlots();
  translatePage();
  showSettings();
  drawColorbar();
  drawHeatmap();
  bind();
  writeUrl();
  connect();
})();
