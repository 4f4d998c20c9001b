import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localModelStore } from "../src/runtime/model-store.js";
import { loadConfig } from "../src/server/config.js";
import { startServer } from "../src/server/server.js";
import { launchChromium } from "./helpers/chromium.js";
import { SAMPLES_DIR, type SdkServer, startSdkServer } from "./helpers/sdk-server.js";

/** Screenshots land here (ignored by git) for a person to look at. */
const SHOTS = "out/web";

let server: SdkServer;
let browser: Browser;

beforeAll(async () => {
  server = await startSdkServer();
  browser = await launchChromium();
  await mkdir(SHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function open(width: number, height: number, url = server.url): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.locator("#certifier option").first().waitFor({ state: "attached" });
  expect(errors).toEqual([]);
  return page;
}

/** The page fits its viewport: nothing wider than the screen, so no sideways scrolling. */
async function expectNoOverflow(page: Page) {
  const { scroll, inner } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    inner: window.innerWidth,
  }));
  expect(scroll).toBeLessThanOrEqual(inner);
}

describe("the web page", () => {
  it("certifies a bundled test image end to end at desktop width", async () => {
    const page = await open(1280, 900);
    // Only certifiers that take images are offered.
    const offered = await page
      .locator("#certifier option")
      .evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(offered.sort()).toEqual(["bright", "fmnist-templates"]);
    // Dual RS before a single global sigma.
    expect(await page.inputValue("#certifier")).toBe("fmnist-templates");
    await page.selectOption("#certifier", "fmnist-templates");
    expect(await page.inputValue("#n")).toBe("256");
    await page.getByRole("radio", { name: "Ankle boot" }).click();
    await page.fill("#n", "2000");
    await page.fill("#alpha", "0.01");
    await page.click("#submit");
    await page.locator("#result").waitFor({ state: "visible" });
    expect(await page.textContent("#prediction")).toBe("Ankle boot");
    expect(await page.textContent("#status")).toBe("Certified.");
    const radius = Number((await page.textContent("#radius"))?.replace("certified radius ", ""));
    expect(radius).toBeGreaterThan(0);
    const facts = (await page.textContent("#facts")) ?? "";
    for (const term of ["sigma chosen", "R_sigma", "R_c", "seed"]) expect(facts).toContain(term);
    expect(await page.locator(".stage").count()).toBe(2);
    expect(await page.locator(".stage").first().textContent()).toContain("counts");
    // The certificate's JSON is the one the server holds.
    const json = JSON.parse((await page.textContent("#json")) ?? "{}");
    expect(json.parameters.n).toBe(2000);
    expect(json.stages.classifier.n).toBe(2000);
    // The input as the certifier sees it: a 28x28 picture with some ink on it.
    const ink = await page.evaluate(() => {
      const canvas = document.getElementById("input-picture") as HTMLCanvasElement;
      const px = canvas.getContext("2d")?.getImageData(0, 0, canvas.width, canvas.height).data ?? [];
      return {
        width: canvas.width,
        height: canvas.height,
        lit: Array.from(px).filter((v, i) => i % 4 === 0 && v > 64).length,
      };
    });
    expect(ink).toMatchObject({ width: 28, height: 28 });
    expect(ink.lit).toBeGreaterThan(50);
    // The zoo's plot is shown exactly when the evaluation has produced it.
    expect(await page.locator("#plot").isVisible()).toBe(existsSync("docs/results/certified-accuracy.png"));
    await expectNoOverflow(page);
    await page.screenshot({ path: join(SHOTS, "desktop.png"), fullPage: true });
    await page.close();
  });

  it("certifies an uploaded image at phone width", async () => {
    const page = await open(390, 844);
    await page.selectOption("#certifier", "fmnist-templates");
    await page.setInputFiles("#file", join(SAMPLES_DIR, "fmnist-test-2.png"));
    await page.click("#submit");
    await page.locator("#result").waitFor({ state: "visible" });
    expect(await page.textContent("#prediction")).toBe("Trouser");
    await expectNoOverflow(page);
    const submit = await page.locator("#submit").boundingBox();
    expect(submit && submit.x >= 0 && submit.x + submit.width <= 390).toBe(true);
    await page.screenshot({ path: join(SHOTS, "phone.png"), fullPage: true });
    await page.close();
  });

  it("decides a target radius with sequential sampling", async () => {
    const page = await open(1280, 900);
    await page.selectOption("#certifier", "fmnist-templates");
    await page.getByRole("radio", { name: "Ankle boot" }).click();
    await page.fill("#n", "20000");
    await page.fill("#target-radius", "0.1");
    await page.check("#sequential");
    await page.click("#submit");
    await page.locator("#result").waitFor({ state: "visible" });
    expect(await page.textContent("#facts")).toContain("certified at 0.1");
    const json = JSON.parse((await page.textContent("#json")) ?? "{}");
    expect(json.parameters).toMatchObject({ sampling: "sequential", targetRadius: 0.1 });
    expect(json.certifiedAtTarget).toBe(true);
    // Decided well before the 20000 draws of each stage.
    expect(json.stages.classifier.n).toBeLessThan(20_000);
    expect(await page.locator(".stage").first().textContent()).toContain("looks");
    await page.close();
  });

  it("asks for set routing and shows what it ran", async () => {
    const page = await open(1280, 900);
    await page.selectOption("#certifier", "fmnist-templates");
    await page.getByRole("radio", { name: "Ankle boot" }).click();
    await page.check("#set-routing");
    await page.click("#submit");
    await page.locator("#result").waitFor({ state: "visible" });
    const json = JSON.parse((await page.textContent("#json")) ?? "{}");
    expect(json.parameters.routing).toBe("set");
    expect(json.routing).not.toBeNull();
    const facts = await page.textContent("#facts");
    expect(facts).toContain(`set: ${json.routing.certified.length} runner-up(s) certified`);
    expect(await page.locator(".stage").count()).toBe(2 + json.routing.certified.length);
    await page.close();
  });

  it("rejects a target radius of 0 beside the button", async () => {
    const page = await open(1024, 768);
    await page.selectOption("#certifier", "fmnist-templates");
    await page.getByRole("radio", { name: "Bag" }).click();
    await page.fill("#target-radius", "0");
    await page.click("#submit");
    expect(await page.textContent("#error")).toContain("target radius");
    await page.close();
  });

  it("cancels a running certification", async () => {
    const page = await open(1024, 768);
    await page.selectOption("#certifier", "fmnist-templates");
    await page.getByRole("radio", { name: "Bag" }).click();
    await page.fill("#n", "50000000");
    await page.click("#submit");
    await page.locator("#cancel").waitFor({ state: "visible" });
    await page.waitForFunction(() =>
      /Job \S+: (queued|running)/.test(document.getElementById("status")?.textContent ?? ""),
    );
    const id = (await page.textContent("#status"))?.match(/Job (\S+):/)?.[1] ?? "";
    await page.click("#cancel");
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "Canceled.");
    let status = "";
    for (let i = 0; i < 500 && status !== "canceled"; i++) {
      status = ((await (await fetch(`${server.url}/certify/${id}`)).json()) as { status: string }).status;
      if (status !== "canceled") await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe("canceled");
    expect(await page.isEnabled("#submit")).toBe(true);
    await page.close();
  });
  it("starts on the trained zoo's fastest dual certifier, whose name fits its box", async () => {
    // The real zoo, listed only: nothing is loaded or certified.
    const dir = await mkdtemp(join(tmpdir(), "dualrs-zoo-page-"));
    const config = loadConfig({
      HOST: "127.0.0.1",
      PORT: "0",
      MODEL_STORE: "models",
      DATA_DIR: join(dir, "data"),
      PROVIDERS: "cpu",
      THREADS: "1",
      WARM: "none",
    });
    const zoo = await startServer({ config, store: localModelStore("models") });
    try {
      const page = await open(1280, 900, zoo.url);
      expect(await page.inputValue("#certifier")).toBe("fmnist-dual-experts");
      expect(await page.textContent("#certifier-about")).toContain("with four experts");
      // Every certifier's name shows in full in the closed dropdown.
      const fits = await page.evaluate(() => {
        const select = document.getElementById("certifier") as HTMLSelectElement;
        const style = getComputedStyle(select);
        const ctx = document.createElement("canvas").getContext("2d") as CanvasRenderingContext2D;
        ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
        // Room for the text: the box less its padding and the arrow (about 1.5em).
        const room = select.clientWidth - 2 * Number.parseFloat(style.paddingLeft) - 24;
        return Array.from(select.options).map((o) => [o.text, ctx.measureText(o.text).width <= room]);
      });
      expect(fits.length).toBe(6);
      for (const [text, fit] of fits) expect(fit, String(text)).toBe(true);
      // The API reference is a click away.
      expect(await page.getAttribute("header a", "href")).toBe("/docs");
      await page.close();
    } finally {
      await zoo.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("says why Certify is disabled, and shows an error beside it while the last certificate stays", async () => {
    const page = await open(1280, 900);
    await page.selectOption("#certifier", "fmnist-templates");
    expect(await page.isDisabled("#submit")).toBe(true);
    const described = (await page.getAttribute("#submit", "aria-describedby")) ?? "";
    expect(described.split(" ")).toContain("submit-hint");
    expect(await page.isVisible("#submit-hint")).toBe(true);
    expect(await page.textContent("#submit-hint")).toContain("Choose an image first");
    await page.getByRole("radio", { name: "Ankle boot" }).click();
    await page.waitForFunction(() => !(document.getElementById("submit") as HTMLButtonElement).disabled);
    expect(await page.isVisible("#submit-hint")).toBe(false);
    await page.click("#submit");
    await page.locator("#result").waitFor({ state: "visible" });
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "Certified.");
    // n past the server's limit: a 422 that names the field.
    await page.fill("#n", "2000000000");
    await page.click("#submit");
    await page.locator("#error").waitFor({ state: "visible" });
    expect(await page.textContent("#error")).toMatch(/^422 .*\bn\b/);
    expect(await page.getAttribute("#error", "role")).toBe("alert");
    // The previous certificate is still there.
    expect(await page.isVisible("#result")).toBe(true);
    expect(await page.textContent("#prediction")).toBe("Ankle boot");
    expect(await page.getAttribute("#result", "aria-busy")).toBeNull();
    // Beside the button: just below it, on screen.
    const button = await page.locator("#submit").boundingBox();
    const error = await page.locator("#error").boundingBox();
    if (!button || !error) throw new Error("no layout");
    expect(error.y).toBeGreaterThanOrEqual(button.y + button.height);
    expect(error.y - (button.y + button.height)).toBeLessThan(60);
    expect(error.y + error.height).toBeLessThanOrEqual(900);
    // A good request clears the error.
    await page.fill("#n", "256");
    await page.click("#submit");
    await page.locator("#error").waitFor({ state: "hidden" });
    await page.close();
  });

  it("explains an abstention and what to try", async () => {
    const page = await open(1280, 900);
    await page.selectOption("#certifier", "fmnist-templates");
    await page.getByRole("radio", { name: "Bag" }).click();
    // One draw can never bound a probability above 1/2 at this alpha: the estimator abstains.
    await page.fill("#n", "1");
    await page.click("#submit");
    await page.locator("#result").waitFor({ state: "visible" });
    expect(await page.textContent("#prediction")).toBe("Abstained (estimator)");
    const why = (await page.textContent("#abstain-why")) ?? "";
    expect(await page.isVisible("#abstain-why")).toBe(true);
    expect(why).toContain("variance estimator");
    expect(why).toContain("more draws n");
    await page.screenshot({ path: join(SHOTS, "abstained.png"), fullPage: true });
    // A certificate that does not abstain hides the explanation.
    await page.fill("#n", "256");
    await page.click("#submit");
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "Certified.");
    expect(await page.isVisible("#abstain-why")).toBe(false);
    await page.close();
  });
});
