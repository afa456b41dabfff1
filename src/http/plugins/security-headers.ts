// Security headers on every response (what helmet would set for a JSON API).
// API responses get the strictest CSP (`default-src 'none'`: a JSON body must never run as a page)
// and `Cache-Control: no-store` (predictions are per-request data); the Swagger UI pages under
// /docs get a CSP that lets them load their own scripts and styles and nothing else.
// Set in onRequest, from two prebuilt header sets, with a callback-style hook: the route is known
// there, the headers survive error responses (the error boundary keeps them), and an async onSend
// hook per response cost the main thread measurably (a promise and a header loop per request).
// A handler can still override them (reply.header replaces).
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
/** The API responses' set (also used for answers written before any hook runs). */
export const API_HEADERS = Object.freeze({ ...COMMON, 'content-security-policy': API_CSP, 'cache-control': 'no-store' });
const DOCS_HEADERS = Object.freeze({ ...COMMON, 'content-security-policy': DOCS_CSP });

export function installSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    const route = request.routeOptions.url;
    const docs = route !== undefined && (route === '/docs' || route.startsWith('/docs/'));
    reply.headers(docs ? DOCS_HEADERS : API_HEADERS);
    done();
  });
}
