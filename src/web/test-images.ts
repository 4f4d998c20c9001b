import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pngjs from "pngjs";
import { defaultDataDir, FASHION_MNIST_CLASSES, loadFashionMnist } from "../eval/dataset.js";

/**
 * `npm run web:images`: the web page's sample inputs, the first image of each class in the
 * Fashion-MNIST test split, as 28x28 grayscale PNGs with an index.json of their labels.
 */
const OUT = "src/web/public/images";

const data = await loadFashionMnist(defaultDataDir());
const [, rows = 28, cols = 28] = data.shape;
const samples: { file: string; label: string; index: number }[] = [];
for (let i = 0; i < data.size && samples.length < FASHION_MNIST_CLASSES.length; i++) {
  const label = data.label(i);
  if (samples.some((s) => s.label === FASHION_MNIST_CLASSES[label])) continue;
  const png = new pngjs.PNG({
    width: cols,
    height: rows,
    colorType: 0,
    inputColorType: 0,
    inputHasAlpha: false,
  });
  png.data = Buffer.from(data.image(i).map((v) => Math.round(v * 255)));
  const file = `fmnist-test-${i}.png`;
  await mkdir(OUT, { recursive: true });
  await writeFile(
    join(OUT, file),
    pngjs.PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false }),
  );
  samples.push({ file, label: FASHION_MNIST_CLASSES[label] ?? String(label), index: i });
}
samples.sort(
  (a, b) => FASHION_MNIST_CLASSES.indexOf(a.label as never) - FASHION_MNIST_CLASSES.indexOf(b.label as never),
);
await writeFile(join(OUT, "index.json"), `${JSON.stringify(samples, null, 2)}\n`);
console.log(`${samples.length} test images in ${OUT}`);
