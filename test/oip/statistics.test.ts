// Triton's statistics extension (GET /v2/models/{m}/stats, gRPC ModelStatistics): the load-time
// warm-up run is not an inference request: it is not counted and sets no last_inference.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import { EXAMPLES } from '../helpers/paths.js';

interface Duration { count: number; ns: number }
interface ModelStat {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: Record<'success' | 'fail' | 'queue' | 'compute_input' | 'compute_infer' | 'compute_output' | 'cache_hit' | 'cache_miss', Duration>;
  batch_stats: Array<{ batch_size: number; compute_input: Duration; compute_infer: Duration; compute_output: Duration }>;
}

let server: RunningServer;

before(async () => {
  // weather and weather-gb, and the weather-ensemble pipeline over them (local steps).
  server = await startServer({ repo: join(EXAMPLES, 'pipelines'), port: 0, workers: 1, logger: false });
});
after(async () => {
  await server?.shutdown();
});

async function stats(name: string): Promise<ModelStat> {
  const res = await fetch(`${server.url}/v2/models/${name}/stats`);
  assert.equal(res.status, 200);
  const body = await res.json() as { model_stats: ModelStat[] };
  assert.equal(body.model_stats.length, 1);
  return body.model_stats[0]!;
}

test('the load-time warm-up run is not counted and sets no last_inference', async () => {
  for (const name of ['weather', 'weather-gb', 'weather-ensemble']) {
    const s = await stats(name);
    assert.equal(s.last_inference, 0, name);
    assert.equal(s.inference_count, 0, name);
    assert.equal(s.execution_count, 0, name);
    for (const [key, d] of Object.entries(s.inference_stats)) assert.deepEqual(d, { count: 0, ns: 0 }, `${name} ${key}`);
    assert.deepEqual(s.batch_stats, [], name);
  }
});
