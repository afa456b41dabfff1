// Libraries that only some servers use, loaded when first needed rather than with the server: each
// takes tens of milliseconds to load on this kind of machine (undici about 80 ms, mqtt about 60 ms
// with its dependencies), a real share of the cold start. undici serves remote pipeline steps and
// the webhook event sink; mqtt the MQTT front door and event sink. Both are CommonJS, so require
// loads them synchronously where they are first used.
import { createRequire } from 'node:module';

function lazy<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= createRequire(import.meta.url)(name) as T);
}

export const undici = lazy<typeof import('undici')>('undici');
export const mqtt = lazy<typeof import('mqtt')>('mqtt');
