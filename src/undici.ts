// undici, loaded when first used. It takes about 80 ms to load on this kind of machine, a tenth of
// the server's cold start, and only remote pipeline steps and the webhook event sink use it; a
// server with neither never loads it. (undici is CommonJS, so require loads it synchronously.)
import { createRequire } from 'node:module';

type Undici = typeof import('undici');
let loaded: Undici | undefined;

export function undici(): Undici {
  return (loaded ??= createRequire(import.meta.url)('undici') as Undici);
}
