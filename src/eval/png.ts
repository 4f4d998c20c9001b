export interface PngOptions {
  /** Pixels per SVG unit; default 2, sharp on high-density screens. */
  scale?: number | undefined;
}

/**
 * Renders an SVG to PNG with resvg (@resvg/resvg-js, whose prebuilt binary ships in its npm
 * package). Loaded on first use, so that commands without plots never load the native module.
 * Text uses the system's fonts (DejaVu on Debian); without any, the text is left out.
 */
export async function renderPng(svg: string, options: PngOptions = {}): Promise<Uint8Array> {
  const { Resvg } = await import("@resvg/resvg-js");
  const resvg = new Resvg(svg, {
    fitTo: { mode: "zoom", value: options.scale ?? 2 },
    background: "#ffffff",
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
    logLevel: "off",
  });
  return new Uint8Array(resvg.render().asPng());
}
