// CORS, off by default: a model API called from browsers on other origins must list them
// (--cors-origin https://app.example.com,https://admin.example.com) or allow any with '*'.
// Built on @fastify/cors; registered before auth so that 401s carry the CORS headers (the browser
// can then show the error) and preflights (OPTIONS, no credentials) are answered without a key.
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance } from 'fastify';

/** Parses --cors-origin: '*' or a comma-separated list of origins (scheme://host[:port]). */
export function parseCorsOrigins(text: string): { origins: string[]; problems: string[] } {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const problems: string[] = [];
  if (items.length === 0) problems.push('--cors-origin: no origin given');
  if (items.includes('*')) {
    if (items.length > 1) problems.push("--cors-origin: '*' cannot be combined with other origins");
    return { origins: ['*'], problems };
  }
  for (const item of items) {
    let ok: boolean;
    try {
      const u = new URL(item);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === item.replace(/\/$/, '');
    } catch {
      ok = false;
    }
    if (!ok) problems.push(`--cors-origin: '${item}' is not an origin like https://app.example.com (scheme, host and optional port; no path)`);
  }
  return { origins: items.map((s) => s.replace(/\/$/, '')), problems };
}

export function corsOptions(origins: readonly string[]): FastifyCorsOptions {
  return {
    origin: origins.length === 1 && origins[0] === '*' ? '*' : [...origins],
    methods: ['GET', 'POST', 'OPTIONS'],
    // Every request header a browser app needs: Inference-Header-Content-Length frames an OIP
    // binary-tensor body, Content-Encoding a gzip, deflate or br body.
    allowedHeaders: ['Content-Type', 'Authorization', 'X-API-Key', 'X-Request-Id', 'Inference-Header-Content-Length', 'Content-Encoding'],
    // Every response header the API documents for clients: a browser script reads only these.
    // Inference-Header-Content-Length splits an OIP binary answer into its JSON and its tensors.
    exposedHeaders: ['X-Request-Id', 'X-Model-Version', 'Inference-Header-Content-Length', 'Retry-After', 'WWW-Authenticate'],
    credentials: false,
    maxAge: 600,
    // An OPTIONS request that is not a complete preflight (no Origin or no
    // Access-Control-Request-Method: browsers never send one) gets the same 204 rather than
    // @fastify/cors's strict text/plain 400, which is in no documented error shape.
    strictPreflight: false,
  };
}

export async function installCors(app: FastifyInstance, origins: readonly string[]): Promise<void> {
  await app.register(cors, corsOptions(origins));
}
