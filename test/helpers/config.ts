// A ModelConfig built in memory for unit tests of what is compiled from a config (validators,
// encoders), without a model folder: the defaults a loaded config has, then the test's own parts.
import type { ModelConfig } from '../../src/config/types.js';

export function testConfig(parts: Partial<ModelConfig>): ModelConfig {
  return {
    name: 'm', version: '1', modelVersion: 1, modelDir: '/x', versionPolicy: { latest: 1 }, description: '', dir: '/x', configFile: '/x/model.yaml', modelFile: '/x/model.onnx', default: true,
    strict: false, lax: true, optimize: true,
    fields: [], tensors: [], outputs: [],
    batching: { enabled: true, maxBatchSize: 8, maxQueueDelayMs: 1 }, queue: { maxRows: 10, timeoutMs: 0 },
    ...parts,
  };
}
