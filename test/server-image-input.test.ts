import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageDecoder, ImageError, MAX_IMAGE_PIXELS, readImageHeader } from "../src/runtime/image/index.js";
import { bombJpeg, bombPng, jpg, png, pngChunk, pngSignature } from "./helpers/images.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

describe("image headers", () => {
  it("reads PNG and JPEG dimensions without decoding", () => {
    expect(readImageHeader(png(7, 5, 0))).toEqual({ format: "png", width: 7, height: 5 });
    expect(readImageHeader(jpg(9, 4, 0))).toEqual({ format: "jpeg", width: 9, height: 4 });
    expect(readImageHeader(bombJpeg(3000, 2000))).toEqual({ format: "jpeg", width: 3000, height: 2000 });
  });

  it("refuses images over the pixel limit, and truncated or malformed headers, with a reason", () => {
    expect(MAX_IMAGE_PIXELS).toBe(16_000_000);
    expect(readImageHeader(bombPng(4000, 4000))).toMatchObject({ width: 4000, height: 4000 });
    const refusals: [Uint8Array, RegExp][] = [
      [bombPng(4001, 4000), /4001 x 4000 pixels, more than the 16 megapixels allowed/],
      [bombPng(30000, 30000), /30000 x 30000 pixels/],
      [bombJpeg(60000, 60000), /60000 x 60000 pixels/],
      [Buffer.from("hello"), /not a PNG or JPEG/],
      [Buffer.alloc(0), /not a PNG or JPEG/],
      [pngSignature.subarray(0, 5), /not a PNG image/],
      [pngSignature, /truncated PNG/],
      [bombPng(10, 10).subarray(0, 24), /truncated PNG/],
      [Buffer.concat([pngSignature, pngChunk("IDAT", Buffer.alloc(13))]), /does not start with an IHDR/],
      [bombPng(0, 10), /IHDR says 0 x 10/],
      [bombJpeg(100, 100).subarray(0, 2), /truncated JPEG/],
      [bombJpeg(100, 100).subarray(0, 2000), /truncated JPEG/],
      [bombJpeg(100, 100).subarray(0, 0x100e), /frame header is cut short/],
      [Buffer.from([0xff, 0xd8, 0xff, 0xda, 0, 2, 0xff, 0xd9]), /no frame header/],
      [Buffer.from([0xff, 0xd8, 0x12, 0x34]), /expected a marker at byte 2/],
      [bombJpeg(0, 100), /frame header says 0 x 100/],
    ];
    for (const [bytes, reason] of refusals) {
      expect(() => readImageHeader(bytes), reason.source).toThrow(ImageError);
      expect(() => readImageHeader(bytes), reason.source).toThrow(reason);
    }
  });
});

describe("the image decoder", () => {
  it("decodes on its thread, and refuses broken data or an overrun as an ImageError", async () => {
    const decoder = new ImageDecoder();
    const slow = new ImageDecoder({ timeoutMs: 1 });
    try {
      const [a, b] = await Promise.all([decoder.decode(png(3, 2, 200)), decoder.decode(jpg(16, 8, 90))]);
      expect([a.width, a.height, a.data.length, a.data[0], a.data[3]]).toEqual([3, 2, 24, 200, 255]);
      expect([b.width, b.height, b.data.length]).toEqual([16, 8, 512]);
      expect(Math.abs((b.data[0] as number) - 90)).toBeLessThan(4);
      const broken = png(40, 40, 1);
      await expect(decoder.decode(broken.subarray(0, broken.length - 30))).rejects.toThrow(
        /cannot decode the image/,
      );
      await expect(decoder.decode(bombPng(30000, 30000))).rejects.toThrow(ImageError);
      // A decode cut short costs its thread, not the next image's.
      await expect(slow.decode(png(2000, 2000, 5))).rejects.toThrow(/took longer than 0.001 s/);
      expect((await decoder.decode(png(2, 2, 7))).data[0]).toBe(7);
    } finally {
      await Promise.all([decoder.close(), slow.close()]);
    }
  });
});

describe("image input over HTTP", () => {
  let server: TestServer;
  let large: Buffer;

  beforeAll(async () => {
    // 16 megapixels, the most allowed, made before the server starts: encoding it takes seconds
    // of this thread, which would otherwise outlast the keep-alive of the client's connections.
    large = png(4000, 4000, 250);
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.stop();
  });

  // The timeout is generous, but well short of the minute that decoding a bomb in full took.
  const post = (image: Uint8Array, timeoutMs = 10_000) =>
    server.call("/certify", {
      method: "POST",
      json: { certifier: "bright", input: { type: "image", data: Buffer.from(image).toString("base64") } },
      signal: AbortSignal.timeout(timeoutMs),
    });

  async function refusal(image: Uint8Array): Promise<{ detail: string; field: string }> {
    const res = await post(image);
    expect(res.status).toBe(422);
    expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    return (await res.json()) as { detail: string; field: string };
  }

  it.each([
    ["PNG", bombPng(30000, 30000)],
    ["JPEG", bombJpeg(60000, 60000)],
  ])(
    "refuses a %s that claims gigapixels from its header, at once and without allocating them",
    async (_, bomb) => {
      expect(bomb.length).toBeLessThan(5000);
      // The peak resident size of the process (the server is in it) before and after.
      const peakBefore = process.resourceUsage().maxRSS * 1024;
      const problem = await refusal(bomb);
      const growth = process.resourceUsage().maxRSS * 1024 - peakBefore;
      expect(problem.field).toBe("input.data");
      expect(problem.detail).toMatch(
        /input\.data: the image is \d+ x \d+ pixels, more than the 16 megapixels allowed/,
      );
      expect(growth).toBeLessThan(200e6);
    },
  );

  it("refuses garbage and images whose data is broken, naming input.data", async () => {
    const garbage = await refusal(Buffer.from("GIF89a, not a PNG"));
    expect([garbage.field, garbage.detail]).toEqual(["input.data", "input.data: not a PNG or JPEG image"]);
    const truncated = await refusal(bombPng(12, 12).subarray(0, 20));
    expect(truncated.detail).toMatch(/truncated PNG/);
    const broken = png(12, 12, 250);
    const cut = await refusal(broken.subarray(0, broken.length - 20));
    expect(cut).toMatchObject({
      field: "input.data",
      detail: expect.stringMatching(/cannot decode the image/),
    });
  });

  it("keeps answering other requests while it decodes a large image", async () => {
    // pngjs takes about a second over it.
    let answered = false;
    const certify = post(large, 60_000);
    const settled = () => {
      answered = true;
    };
    certify.then(settled, settled);
    // Health checks one after another for as long as the image is in flight (it is answered once
    // decoded and queued): had the decode blocked the event loop, none could be answered meanwhile.
    let healthBefore = 0;
    while (!answered) {
      const health = await server.call("/healthz");
      expect(health.status).toBe(200);
      await health.body?.cancel();
      if (!answered) healthBefore++;
    }
    const res = await certify;
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const done = await server.call(`/certify/${id}`, { headers: { prefer: "wait=30" } });
    const job = (await done.json()) as { certificate: { prediction: { label: string } | null } };
    expect(job.certificate.prediction?.label).toBe("bright");
    expect(healthBefore).toBeGreaterThanOrEqual(5);
  });
});
