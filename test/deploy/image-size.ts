// The image size README.md and docs/deploy.md state, read from the files themselves so that the
// container test (test/container/image.test.ts) checks the figure the reader sees.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './docker-image.js';

/** The documents that state the image size. */
export const IMAGE_SIZE_DOCS = ['README.md', 'docs/deploy.md'];
/** "about N MB" stands for N ± 10 %: what a base-image or dependency update moves it by. */
export const IMAGE_SIZE_TOLERANCE = 0.1;

/** Every "image … about N MB" in a text (MB = 10^6 bytes, as `docker image ls`). */
export function statedImageSizesMB(text: string): number[] {
  return [...text.matchAll(/\bimage\b[^.]{0,60}?\babout (\d+) MB\b/g)].map((m) => Number(m[1]));
}

/** Every "image … N MB" without the "about" (a figure stated as exact, which no test holds). */
export function exactImageSizesMB(text: string): number[] {
  return [...text.matchAll(/\bimage\b[^.]{0,60}?(?<!\babout )\b(\d+) MB\b|(?<!\babout )\b(\d+) MB image\b/g)].map((m) => Number(m[1] ?? m[2]));
}

/** The one figure the documents state; throws when one states none or an exact one, or they disagree. */
export function documentedImageSizeMB(read: (file: string) => string = (f) => readFileSync(join(REPO_ROOT, f), 'utf8')): number {
  const figures = IMAGE_SIZE_DOCS.map((file) => {
    const found = statedImageSizesMB(read(file));
    const exact = exactImageSizesMB(read(file));
    if (exact.length > 0) throw new Error(`${file}: the image size as an exact ${exact.join(', ')} MB: state it as "about N MB"`);
    if (found.length === 0) throw new Error(`${file}: no "image … about N MB"`);
    return { file, found };
  });
  const all = new Set(figures.flatMap((f) => f.found));
  if (all.size !== 1) throw new Error(`the documents disagree on the image size: ${figures.map((f) => `${f.file}: ${f.found.join(', ')} MB`).join('; ')}`);
  return [...all][0];
}

/** Whether an image of `bytes` matches the stated size; the message says both. */
export function checkImageSize(bytes: number, statedMB: number, tolerance = IMAGE_SIZE_TOLERANCE): { ok: boolean; message: string } {
  const low = statedMB * (1 - tolerance);
  const high = statedMB * (1 + tolerance);
  const mb = bytes / 1e6;
  return { ok: mb >= low && mb <= high, message: `image is ${mb.toFixed(0)} MB; the docs say about ${statedMB} MB (${low.toFixed(0)}–${high.toFixed(0)} MB): correct the figure in ${IMAGE_SIZE_DOCS.join(' and ')}` };
}
