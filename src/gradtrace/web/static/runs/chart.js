// One panel of a report figure as an interactive uPlot chart: hover values in the legend below it, drag to zoom,
// double-click to zoom out, click a legend entry to hide or show its curve. The panel's JSON is written by
// gradtrace/web/plots.py from the report's own matplotlib figure.
(function () {
  "use strict";
  const GT = (window.GT = window.GT || {});

  // A number as the hover legend shows it: four significant digits, a decimal comma in Portuguese.
  function fmt(value, lang) {
    if (value === null || value === undefined || !isFinite(value)) return "–";
    const size = Math.abs(value);
    let text;
    if (size !== 0 && (size < 1e-3 || size >= 1e5)) text = value.toExponential(3).replace(/\.?0+e/, "e");
    else text = String(Number(value.toPrecision(4)));
    return lang === "pt" ? text.replace(".", ",") : text;
  }
  GT.fmt = fmt;

  // A tick label: short, powers of ten as 1e-5 on a logarithmic axis.
  function tick(value, lang, log) {
    if (value === null || value === undefined) return "";
    if (log) {
      const power = Math.log10(Math.abs(value));
      if (Math.abs(power - Math.round(power)) < 1e-9 && Math.abs(power) >= 3) return (value < 0 ? "-" : "") + "1e" + Math.round(power);
    }
    let text = Math.abs(value) >= 1e5 || (value !== 0 && Math.abs(value) < 1e-4) ? value.toExponential(1).replace(/\.0e/, "e") : String(Number(value.toPrecision(6)));
    return lang === "pt" ? text.replace(".", ",") : text;
  }

  function rgba(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha === undefined || alpha === null ? 1 : alpha})`;
  }

  function swatch(kind, color, alpha, dash) {
    const svgNS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("width", "26");
    svg.setAttribute("height", "12");
    let shape;
    if (kind === "line") {
      shape = document.createElementNS(svgNS, "line");
      shape.setAttribute("x1", "1"); shape.setAttribute("x2", "25"); shape.setAttribute("y1", "6"); shape.setAttribute("y2", "6");
      shape.setAttribute("stroke", color); shape.setAttribute("stroke-width", "2.5");
      if (dash && dash.length) shape.setAttribute("stroke-dasharray", dash.join(" "));
    } else if (kind === "point") {
      shape = document.createElementNS(svgNS, "circle");
      shape.setAttribute("cx", "13"); shape.setAttribute("cy", "6"); shape.setAttribute("r", "4"); shape.setAttribute("fill", color);
    } else {
      shape = document.createElementNS(svgNS, "rect");
      shape.setAttribute("x", "3"); shape.setAttribute("y", "1"); shape.setAttribute("width", "20"); shape.setAttribute("height", "10");
      shape.setAttribute("fill", color);
    }
    if (alpha !== undefined && alpha !== null && kind !== "line") shape.setAttribute("opacity", String(Math.max(alpha, 0.25)));
    svg.appendChild(shape);
    return svg;
  }

  // Tick positions, computed here for every axis: uPlot's own loop never ends on a range below 1e-16 (a gradient
  // that vanished to 1e-23), and a logarithmic axis over 40 decades needs every few decades only.
  function splitsFor(log, symlog, pixels, space) {
    return (u, axis, min, max) => {
      const count = Math.max(2, Math.floor(pixels(u) / space));
      if (!(isFinite(min) && isFinite(max)) || max <= min) return [min];
      if (log) {
        const low = Math.ceil(Math.log10(min) - 1e-9), high = Math.floor(Math.log10(max) + 1e-9);
        const step = Math.max(1, Math.ceil((high - low + 1) / count));
        const out = [];
        for (let e = low; e <= high; e += step) out.push(Math.pow(10, e));
        if (out.length >= 2) return out;
        return linear(min, max, count);
      }
      if (symlog) {
        const top = Math.max(Math.abs(min), Math.abs(max));
        const high = Math.floor(Math.log10(top) + 1e-9), low = Math.floor(Math.log10(symlog) + 1e-9);
        const step = Math.max(1, Math.ceil((high - low + 1) / Math.max(1, count / (min < 0 ? 2 : 1))));
        const out = [0];
        for (let e = low; e <= high; e += step) {
          const v = Math.pow(10, e);
          if (v <= max) out.push(v);
          if (-v >= min) out.unshift(-v);
        }
        return out.filter((v) => v >= min && v <= max);
      }
      return linear(min, max, count);
    };
  }
  function linear(min, max, count) {
    const raw = (max - min) / count;
    const size = Math.pow(10, Math.floor(Math.log10(raw)));
    const norm = raw / size;
    const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * size;
    const out = [];
    for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9 && out.length < 60; v += step) {
      out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
    }
    return out;
  }

  function scale(log, symlog) {
    if (log) return { distr: 3, log: 10 };
    if (symlog) return { distr: 4, asinh: symlog };
    return { distr: 1 };
  }

  function autoRange(min, max, log, symlog) {
    if (min === null || max === null || !isFinite(min) || !isFinite(max)) return [null, null];
    if (log) return uPlot.rangeLog(min, max, 10, true);
    if (symlog && uPlot.rangeAsinh) return uPlot.rangeAsinh(min, max, symlog, true);
    return uPlot.rangeNum(min, max, 0.05, true);
  }

  // Runs over the points of one series between breaks (null or undefined), for bands.
  function runs(count, defined) {
    const out = [];
    let start = -1;
    for (let i = 0; i <= count; i++) {
      if (i < count && defined(i)) { if (start < 0) start = i; }
      else if (start >= 0) { out.push([start, i - 1]); start = -1; }
    }
    return out;
  }

  // What matplotlib drew behind and around the lines: shaded spans, bands, bars, reference lines (behind);
  // error bars, point clouds and texts (on top).
  function marks(panel) {
    const clip = (u, ctx) => {
      ctx.save();
      ctx.beginPath();
      ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
      ctx.clip();
    };
    const px = (u, v, key) => u.valToPos(v, key, true);
    const ratio = () => window.devicePixelRatio || 1;
    function dashLine(ctx, dash, width, color) {
      ctx.setLineDash((dash || []).map((d) => d * ratio()));
      ctx.lineWidth = (width || 1) * ratio();
      ctx.strokeStyle = color;
    }
    return {
      hooks: {
        drawAxes: [
          (u) => {
            const ctx = u.ctx;
            clip(u, ctx);
            const { left, top, width, height } = u.bbox;
            for (const span of panel.spans) {
              ctx.fillStyle = rgba(span.color, span.alpha);
              if (span.axis === "x") {
                const a = px(u, span.from, "x"), b = px(u, span.to, "x");
                ctx.fillRect(Math.min(a, b), top, Math.abs(b - a), height);
              } else {
                const a = px(u, span.from, "y"), b = px(u, span.to, "y");
                ctx.fillRect(left, Math.min(a, b), width, Math.abs(b - a));
              }
            }
            const x = u.data[0];
            panel.series.forEach((s, k) => {
              const i = k + 1;
              if (!u.series[i].show) return;
              if (s.lo && s.line) {
                ctx.fillStyle = rgba(s.color, s.band_alpha || 0.18);
                const ok = (j) => s.lo[j] !== null && s.lo[j] !== undefined && s.hi[j] !== null && s.hi[j] !== undefined;
                for (const [a, b] of runs(x.length, ok)) {
                  ctx.beginPath();
                  for (let j = a; j <= b; j++) ctx.lineTo(px(u, x[j], "x"), px(u, s.hi[j], "y"));
                  for (let j = b; j >= a; j--) ctx.lineTo(px(u, x[j], "x"), px(u, s.lo[j], "y"));
                  ctx.closePath();
                  ctx.fill();
                }
              }
              if (s.bars) {
                ctx.fillStyle = rgba(s.color, s.alpha);
                s.y.forEach((value, j) => {
                  if (value === null || value === undefined || s.bars.width[j] === null) return;
                  const half = s.bars.width[j] / 2;
                  const a = px(u, x[j] - half, "x"), b = px(u, x[j] + half, "x");
                  let base = px(u, s.bars.bottom[j] || 0, "y");
                  if (!isFinite(base)) base = top + height;
                  const y = px(u, value, "y");
                  ctx.fillRect(Math.min(a, b), Math.min(base, y), Math.abs(b - a), Math.abs(base - y));
                });
              }
            });
            for (const line of panel.hlines) {
              const y = px(u, line.y, "y");
              dashLine(ctx, line.dash, line.width, rgba(line.color, line.alpha));
              ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + width, y); ctx.stroke();
            }
            for (const line of panel.vlines) {
              const xv = px(u, line.x, "x");
              dashLine(ctx, line.dash, line.width, rgba(line.color, line.alpha));
              ctx.beginPath(); ctx.moveTo(xv, top); ctx.lineTo(xv, top + height); ctx.stroke();
            }
            ctx.restore();
          },
        ],
        draw: [
          (u) => {
            const ctx = u.ctx;
            clip(u, ctx);
            const x = u.data[0];
            const r = ratio();
            panel.series.forEach((s, k) => {
              if (!u.series[k + 1].show || !s.lo || s.line) return;
              dashLine(ctx, [], 1.3, rgba(s.color, 1));
              s.lo.forEach((low, j) => {
                const high = s.hi[j];
                if (low === null || high === null || low === undefined || high === undefined) return;
                const xv = px(u, x[j], "x"), a = px(u, low, "y"), b = px(u, high, "y");
                ctx.beginPath();
                ctx.moveTo(xv, a); ctx.lineTo(xv, b);
                ctx.moveTo(xv - 4 * r, a); ctx.lineTo(xv + 4 * r, a);
                ctx.moveTo(xv - 4 * r, b); ctx.lineTo(xv + 4 * r, b);
                ctx.stroke();
              });
            });
            for (const cloud of panel.clouds) {
              if (cloud.hidden) continue;
              ctx.fillStyle = rgba(cloud.color, Math.max(cloud.alpha, 0.35));
              const radius = Math.max(cloud.size / 2, 2) * r;
              cloud.x.forEach((xv, j) => {
                ctx.beginPath();
                ctx.arc(px(u, xv, "x"), px(u, cloud.y[j], "y"), radius, 0, 2 * Math.PI);
                ctx.fill();
              });
            }
            ctx.font = `${12 * r}px system-ui, sans-serif`;
            for (const note of panel.texts) {
              ctx.fillStyle = note.color;
              ctx.fillText(note.text, px(u, note.x, "x") + 4 * r, px(u, note.y, "y") - 4 * r);
            }
            ctx.restore();
          },
        ],
      },
    };
  }

  // Draw one panel into `host`. opts: {width, height, lang, sync (a key shared by charts that hover together)}.
  GT.chart = function (host, panel, opts) {
    const lang = opts.lang;
    const box = document.createElement("div");
    box.className = "panel";
    if (panel.title) {
      const title = document.createElement("h4");
      title.textContent = panel.title;
      if (panel.title_color && panel.title_color !== "#000000") title.style.color = panel.title_color;
      box.appendChild(title);
    }
    const plot = document.createElement("div");
    box.appendChild(plot);
    const legend = document.createElement("div");
    legend.className = "gt-legend";
    box.appendChild(legend);
    host.appendChild(box);

    const x = panel.x;
    const columns = [x];
    panel.series.forEach((s) => {
      const y = s.y.slice();
      // undefined: no point here (the line goes on); null: a gap (the line breaks).
      if (s.absent) for (const i of s.absent) y[i] = undefined;
      columns.push(y);
    });
    const state = { zoomed: false };
    const first = x[0], last = x[x.length - 1];
    const xlim = panel.xlim, ylim = panel.ylim;
    const xTicks = panel.xticks, yTicks = panel.yticks;
    const series = [{ label: panel.xlabel || "x" }];
    panel.series.forEach((s) => {
      series.push({
        label: s.label,
        stroke: rgba(s.color, s.line ? s.alpha : 1),
        width: s.width || 1.5,
        dash: s.dash && s.dash.length ? s.dash : undefined,
        spanGaps: false,
        paths: s.line ? undefined : () => null,
        points: { show: !!s.points, size: (s.size || 5) + 1, fill: rgba(s.color, 1), stroke: rgba(s.color, 1), width: 1 },
      });
    });
    const all = (u, splits) => splits;  // every tick computed above is labeled (uPlot thins log axes itself)
    const xAxis = {
      filter: all,
      label: panel.xlabel,
      labelSize: 22,
      values: (u, splits) => splits.map((v) => {
        if (xTicks) { const named = xTicks.find((t) => Math.abs(t[0] - v) <= 1e-9 * Math.max(1, Math.abs(v))); if (named) return named[1]; }
        return tick(v, lang, panel.xlog);
      }),
    };
    const ratio = () => window.devicePixelRatio || 1;
    xAxis.splits = xTicks ? (u, a, min, max) => xTicks.map((t) => t[0]).filter((v) => v >= min && v <= max)
      : splitsFor(panel.xlog, panel.xsymlog, (u) => u.bbox.width / ratio(), 70);
    const yAxis = {
      filter: all,
      label: panel.ylabel,
      labelSize: 22,
      size: 64,
      values: (u, splits) => splits.map((v) => {
        if (yTicks) { const named = yTicks.find((t) => Math.abs(t[0] - v) <= 1e-9 * Math.max(1, Math.abs(v))); if (named) return named[1]; }
        return tick(v, lang, panel.ylog);
      }),
    };
    yAxis.splits = yTicks ? (u, a, min, max) => yTicks.map((t) => t[0]).filter((v) => v >= min && v <= max)
      : splitsFor(panel.ylog, panel.ysymlog, (u) => u.bbox.height / ratio(), 34);
    const options = {
      width: opts.width,
      height: opts.height,
      legend: { show: false },
      scales: {
        x: Object.assign(scale(panel.xlog, panel.xsymlog), {
          time: false,
          range: (u, min, max) => {
            // Zoomed out (first draw, double-click): the report's frame. Zoomed in: the dragged range.
            if (min === first && max === last) { state.zoomed = false; return xlim; }
            state.zoomed = true;
            return [min, max];
          },
        }),
        y: Object.assign(scale(panel.ylog, panel.ysymlog), {
          range: (u, min, max) => (state.zoomed ? autoRange(min, max, panel.ylog, panel.ysymlog) : ylim),
        }),
      },
      axes: [xAxis, yAxis],
      series,
      cursor: {
        drag: { x: true, y: false, setScale: true },
        points: { size: 8 },
        sync: opts.sync ? { key: opts.sync } : undefined,
      },
      plugins: [marks(panel)],
      hooks: { setCursor: [(u) => update(u)] },
    };
    const chart = new uPlot(options, columns, plot);

    // The legend: the x under the cursor, then each series' value there (with its range), click to toggle.
    const xLine = document.createElement("div");
    xLine.className = "gt-x";
    legend.appendChild(xLine);
    if (panel.legend_title) {
      const t = document.createElement("div");
      t.className = "gt-title";
      t.textContent = panel.legend_title;
      legend.appendChild(t);
    }
    const items = document.createElement("div");
    items.className = "gt-items";
    legend.appendChild(items);
    const cells = [];
    panel.series.forEach((s, k) => {
      const item = document.createElement("div");
      item.className = "gt-item";
      item.dataset.label = s.label;
      item.appendChild(swatch(s.bars ? "bar" : s.line ? "line" : "point", s.color, s.alpha, s.dash));
      const label = document.createElement("span");
      label.className = "gt-label";
      label.textContent = s.label;
      label.title = s.label;
      item.appendChild(label);
      const value = document.createElement("span");
      value.className = "gt-value";
      item.appendChild(value);
      const range = document.createElement("span");
      range.className = "gt-range";
      item.appendChild(range);
      item.addEventListener("click", () => {
        const shown = !chart.series[k + 1].show;
        chart.setSeries(k + 1, { show: shown });
        item.classList.toggle("off", !shown);
      });
      items.appendChild(item);
      cells.push({ value, range, s });
    });
    const statics = [];
    for (const line of panel.hlines) if (line.label) statics.push(["line", line.color, line.alpha, line.dash, line.label, fmt(line.y, lang)]);
    for (const line of panel.vlines) if (line.label) statics.push(["line", line.color, line.alpha, line.dash, line.label, fmt(line.x, lang)]);
    for (const span of panel.spans) if (span.label) statics.push(["bar", span.color, span.alpha, null, span.label, ""]);
    for (const cloud of panel.clouds) if (cloud.label) statics.push(["point", cloud.color, cloud.alpha, null, cloud.label, ""]);
    for (const [kind, color, alpha, dash, text, shown] of statics) {
      const item = document.createElement("div");
      item.className = "gt-item static";
      item.appendChild(swatch(kind, color, alpha, dash));
      const label = document.createElement("span");
      label.className = "gt-label";
      label.textContent = text;
      item.appendChild(label);
      const value = document.createElement("span");
      value.className = "gt-value";
      value.textContent = shown;
      item.appendChild(value);
      items.appendChild(item);
    }

    function update(u) {
      const i = u.cursor.idx;
      if (i === null || i === undefined) {
        xLine.textContent = "\u00a0";
        for (const cell of cells) { cell.value.textContent = ""; cell.range.textContent = ""; }
        return;
      }
      const xv = u.data[0][i];
      const named = xTicks && xTicks.find((t) => t[0] === xv);
      xLine.textContent = `${panel.xlabel || "x"} = ${named ? named[1] : fmt(xv, lang)}`;
      cells.forEach((cell, k) => {
        const v = u.data[k + 1][i];
        cell.value.textContent = v === undefined ? "" : fmt(v, lang);
        const s = cell.s;
        if (s.lo && s.lo[i] !== null && s.lo[i] !== undefined && v !== undefined) {
          const sep = lang === "pt" ? "; " : ", ";
          cell.range.textContent = `[${fmt(s.lo[i], lang)}${sep}${fmt(s.hi[i], lang)}]`;
        } else cell.range.textContent = "";
      });
    }
    update(chart);
    return chart;
  };
})();
