// The helpers test/container/image.test.ts uses to hold the documented image size to the built image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGE_SIZE_TOLERANCE, checkImageSize, documentedImageSizeMB, exactImageSizesMB, statedImageSizesMB } from './image-size.js';
import { REPO_ROOT } from './docker-image.js';

test('README.md and docs/deploy.md state one image size, "about N MB"', () => {
  const mb = documentedImageSizeMB();
  assert.ok(mb > 100 && mb < 300, `${mb} MB`);
});

test('the figure is read from the sentence about the image, not from other sizes nearby', () => {
  assert.deepEqual(statedImageSizesMB('The image (`node:22-bookworm-slim`, about 280 MB, non-root'), [280]);
  assert.deepEqual(statedImageSizesMB('the same image,\nabout 281 MB, ~3 min cold'), [281]);
  assert.deepEqual(statedImageSizesMB('2 workers peaked at about 180 MB RSS. The image is small.'), []);
  assert.deepEqual(statedImageSizesMB('The image (node, 268 MB, non-root'), [], 'an exact figure is not the checked form');
  assert.deepEqual(exactImageSizesMB('The image (node, 268 MB, non-root'), [268]);
  assert.deepEqual(exactImageSizesMB('The image (node, about 268 MB, non-root'), []);
});

test('documents that state none, or disagree, are an error naming them', () => {
  const docs = (readme: string, deploy: string) => (f: string) => (f === 'README.md' ? readme : deploy);
  assert.equal(documentedImageSizeMB(docs('the image, about 280 MB', 'same image, about 280 MB')), 280);
  assert.throws(() => documentedImageSizeMB(docs('the image, about 280 MB', 'no size here')), /docs\/deploy\.md: no "image … about N MB"/);
  assert.throws(() => documentedImageSizeMB(docs('the image, about 280 MB', 'same 268 MB image')), /docs\/deploy\.md: the image size as an exact 268 MB/);
  assert.throws(() => documentedImageSizeMB(docs('the image, about 280 MB', 'same image, about 268 MB')), /disagree.*README\.md: 280 MB; docs\/deploy\.md: 268 MB/);
});

test('the size check: within ±10 % of the stated figure, in decimal MB as docker reports it', () => {
  assert.equal(checkImageSize(278_000_000, 280).ok, true);
  assert.equal(checkImageSize(252_000_000, 280).ok, true);
  assert.equal(checkImageSize(308_000_000, 280).ok, true);
  assert.equal(checkImageSize(251_000_000, 280).ok, false);
  assert.equal(checkImageSize(309_000_000, 280).ok, false);
  assert.match(checkImageSize(320_000_000, 280).message, /image is 320 MB; the docs say about 280 MB \(252–308 MB\)/);
});

test('BENCHMARKS.md\'s container section states what the container test checks: the documented "about N MB" (±10 %) and the 300 MB limit, and its recorded size is within them', () => {
  const text = readFileSync(join(REPO_ROOT, 'BENCHMARKS.md'), 'utf8');
  const section = /<!-- section:container -->([\s\S]*?)<!-- \/section:container -->/.exec(text)?.[1] ?? '';
  assert.ok(section, 'no container section');
  const stated = documentedImageSizeMB();
  assert.ok(section.includes(`about ${stated} MB`), `the section does not name the checked size, about ${stated} MB`);
  assert.ok(section.includes(`±${IMAGE_SIZE_TOLERANCE * 100} %`), 'the section does not name the tolerance');
  assert.match(section, /at most 300 MB/);
  const recorded = Number(/\*\*Size: (\d+) MB\*\*/.exec(section)?.[1]);
  assert.ok(recorded > 0, 'no **Size: N MB** record');
  assert.ok(checkImageSize(recorded * 1e6, stated).ok, checkImageSize(recorded * 1e6, stated).message);
});
