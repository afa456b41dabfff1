// Security headers on every response (what helmet would set for a JSON API), in one onSend hook.
// API responses get the strictest CSP (`default-src 'none'`: a JSON body must never run as a page)
// and `Cache-Control: no-store` (predictions are per-request data); the Swagger UI pages under
// /docs get a CSP that lets them load their own scripts and styles and nothing else.
// Not set here: Strict-Transport-Security (modelserve speaks plain HTTP behind a TLS-terminating
// proxy or platform, which owns HSTS).
import type { FastifyInstance } from 'fastify';

export const API_CSP = "default-src 'none'; frame-ancestors 'none'";
export const DOCS_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const COMMON: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'x-permitted-cross-domain-policies': 'none',
};

export function installSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply, payload) => {
    for (const [name, value] of Object.entries(COMMON)) reply.header(name, value);
    const route = request.routeOptions.url ?? '';
    const docs = route === '/docs' || route.startsWith('/docs/');
    reply.header('content-security-policy', docs ? DOCS_CSP : API_CSP);
    if (!docs && !reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });
}
