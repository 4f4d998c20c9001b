import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

async function open(width: number, height: number): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(server.url);
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
});
