/** One line of a certified accuracy plot. */
export interface Curve {
  label: string;
  points: readonly { radius: number; accuracy: number }[];
  /** Dashed, e.g. for a bound such as the oracle. */
  dashed?: boolean | undefined;
  color?: string | undefined;
}

export interface PlotOptions {
  title?: string | undefined;
  width?: number | undefined;
  /** Height without the legend, which adds its rows below the axes. */
  height?: number | undefined;
  /** Right end of the radius axis; default: the largest radius of any curve. */
  xMax?: number | undefined;
}

// Tableau 10: distinguishable, and readable in grey scale by lightness.
const palette = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];

// DejaVu first: it is what resvg finds on Debian, where the PNG is rendered.
const font = "DejaVu Sans, Helvetica, Arial, sans-serif";

/**
 * Certified accuracy against L2 radius, one polyline per curve, in the style of Cohen et al.'s
 * Figure 6: axes with ticks and labels, a grid, a legend below the axes (inside them it would
 * hide the curves). Hand-written so that it needs no plotting library; renderPng turns it into a PNG.
 */
export function accuracyPlot(curves: readonly Curve[], options: PlotOptions = {}): string {
  const width = options.width ?? 640;
  const height = options.height ?? 420;
  const m = { left: 64, right: 20, top: options.title ? 40 : 20, bottom: 52 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const radii = curves.flatMap((c) => c.points.map((p) => p.radius));
  const xMax = options.xMax ?? Math.max(0.25, Math.ceil(Math.max(0, ...radii) / 0.25) * 0.25);
  const x = (r: number) => m.left + (Math.min(r, xMax) / xMax) * plotW;
  const y = (a: number) => m.top + (1 - Math.max(0, Math.min(1, a))) * plotH;
  const key = legend(curves, m.left, width - 8, height);
  const full = height + key.height;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${full}" viewBox="0 0 ${width} ${full}" font-family="${font}" font-size="12">`,
    `<rect width="${width}" height="${full}" fill="#ffffff"/>`,
  ];
  if (options.title) {
    out.push(
      `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`,
    );
  }
  // Grid and ticks: radius every 0.25 (labels every 0.5 when crowded), accuracy every 0.1.
  const xStep = 0.25;
  const xTicks = Array.from({ length: Math.round(xMax / xStep) + 1 }, (_, i) => i * xStep);
  const labelEvery = xTicks.length > 13 ? 2 : 1;
  out.push('<g class="grid" stroke="#e5e5e5" stroke-width="1">');
  for (const r of xTicks)
    out.push(`<line x1="${f(x(r))}" y1="${m.top}" x2="${f(x(r))}" y2="${m.top + plotH}"/>`);
  for (let i = 0; i <= 10; i++)
    out.push(`<line x1="${m.left}" y1="${f(y(i / 10))}" x2="${m.left + plotW}" y2="${f(y(i / 10))}"/>`);
  out.push("</g>");
  out.push('<g class="axes" stroke="#333333" stroke-width="1">');
  out.push(`<line x1="${m.left}" y1="${m.top + plotH}" x2="${m.left + plotW}" y2="${m.top + plotH}"/>`);
  out.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + plotH}"/>`);
  for (const r of xTicks)
    out.push(`<line x1="${f(x(r))}" y1="${m.top + plotH}" x2="${f(x(r))}" y2="${m.top + plotH + 5}"/>`);
  for (let i = 0; i <= 10; i += 2)
    out.push(`<line x1="${m.left - 5}" y1="${f(y(i / 10))}" x2="${m.left}" y2="${f(y(i / 10))}"/>`);
  out.push("</g>");
  out.push('<g class="tick-labels" fill="#333333">');
  xTicks.forEach((r, i) => {
    if (i % labelEvery === 0)
      out.push(`<text x="${f(x(r))}" y="${m.top + plotH + 19}" text-anchor="middle">${r.toFixed(2)}</text>`);
  });
  for (let i = 0; i <= 10; i += 2)
    out.push(
      `<text x="${m.left - 9}" y="${f(y(i / 10) + 4)}" text-anchor="end">${(i / 10).toFixed(1)}</text>`,
    );
  out.push("</g>");
  out.push(
    `<text class="x-label" x="${f(m.left + plotW / 2)}" y="${height - 10}" text-anchor="middle" font-size="13">L2 radius</text>`,
  );
  out.push(
    `<text class="y-label" transform="translate(16 ${f(m.top + plotH / 2)}) rotate(-90)" text-anchor="middle" font-size="13">certified accuracy</text>`,
  );
  curves.forEach((c, i) => {
    const color = c.color ?? palette[i % palette.length];
    const points = c.points.map((p) => `${f(x(p.radius))},${f(y(p.accuracy))}`).join(" ");
    out.push(
      `<polyline class="curve" data-label="${escapeXml(c.label)}" fill="none" stroke="${color}" stroke-width="2"${c.dashed ? ' stroke-dasharray="6 4"' : ""} points="${points}"/>`,
    );
  });
  out.push(key.svg);
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

/**
 * The legend under the axes, from `top`: entries in as many equal columns as fit between `left`
 * and `right` (widths estimated from the labels), row by row; `height` is what it adds.
 */
function legend(
  curves: readonly Curve[],
  left: number,
  right: number,
  top: number,
): { svg: string; height: number } {
  if (curves.length === 0) return { svg: "", height: 0 };
  const row = 18;
  const gap = 16;
  const column = 30 + Math.max(...curves.map((c) => c.label.length)) * 6.4;
  const columns = Math.max(1, Math.floor((right - left + gap) / (column + gap)));
  const rows = Math.ceil(curves.length / columns);
  const items = curves.map((c, i) => {
    const color = c.color ?? palette[i % palette.length];
    const x = left + (i % columns) * (column + gap);
    const y = top + 10 + Math.floor(i / columns) * row;
    return (
      `<line x1="${f(x)}" y1="${f(y)}" x2="${f(x + 24)}" y2="${f(y)}" stroke="${color}" stroke-width="2"${c.dashed ? ' stroke-dasharray="6 4"' : ""}/>` +
      `<text x="${f(x + 30)}" y="${f(y + 4)}">${escapeXml(c.label)}</text>`
    );
  });
  return { svg: ['<g class="legend">', ...items, "</g>"].join("\n"), height: 10 + (rows - 1) * row + 12 };
}

function f(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
