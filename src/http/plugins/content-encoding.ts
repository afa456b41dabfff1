// Request bodies in gzip, deflate or br (Content-Encoding), decoded as they stream in, and the
// charset of JSON bodies. A preParsing hook hands Fastify's JSON parser the decoded stream; the
// body limit applies to the decoded size, checked here chunk by chunk so that a zip bomb stops
// (413) after at most bodyLimit decoded bytes instead of being inflated to the end. Fastify's own
// checks still see the encoded size (receivedEncodedLength) against Content-Length.
// Other codings (or several at once) get 415; a Content-Type charset other than UTF-8 gets 415.
// Runs after onRequest, so unauthenticated, rate-limited or shed requests are never decoded.
import { Transform, type TransformCallback } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { ModelServeError } from '../../errors.js';

const DECODERS: Record<string, () => Transform> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/** Methods whose body Fastify never reads: their Content-Encoding does not matter. */
const BODYLESS = new Set(['GET', 'HEAD', 'TRACE', 'CONNECT']);

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;

/** Passes decoded bytes on until more than `limit` have come out of the decoder. */
class DecodedLimit extends Transform {
  private decoded = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.decoded += chunk.length;
    if (this.decoded > this.limit) {
      callback(new ModelServeError('MS_ERR_BODY_TOO_LARGE', `request body is larger than the limit (${this.limit} bytes) once decoded`));
      return;
    }
    callback(null, chunk);
  }
}

export function installContentEncoding(app: FastifyInstance): void {
  const limit = app.initialConfig.bodyLimit ?? 1024 * 1024;
  app.addHook('preParsing', (request, _reply, payload, done) => {
    const contentType = request.headers['content-type'];
    if (contentType !== undefined) {
      const charset = CHARSET.exec(contentType)?.[1]?.toLowerCase();
      if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8' && /^application\/json\b/i.test(contentType.trim())) {
        return done(new ModelServeError('MS_ERR_UNSUPPORTED_CHARSET', `charset ${JSON.stringify(charset.slice(0, 40))} is not supported: send the JSON body in UTF-8 (Content-Type: application/json; charset=utf-8)`));
      }
    }
    const header = request.headers['content-encoding'];
    if (header === undefined || BODYLESS.has(request.method)) return done(null, payload);
    const codings = header.split(',').map((c) => c.trim().toLowerCase()).filter((c) => c !== '' && c !== 'identity');
    if (codings.length === 0) return done(null, payload);
    const make = codings.length === 1 ? DECODERS[codings[0]!] : undefined;
    if (make === undefined) {
      return done(new ModelServeError('MS_ERR_UNSUPPORTED_ENCODING', `Content-Encoding ${JSON.stringify(header.slice(0, 60))} is not supported: send one of gzip, deflate, br or identity`));
    }
    const decoder = make();
    const limited = new DecodedLimit(limit) as DecodedLimit & { receivedEncodedLength: number };
    limited.receivedEncodedLength = 0;
    payload.on('data', (chunk: Buffer) => { limited.receivedEncodedLength += chunk.length; });
    const stop = (error: Error) => {
      // The raw request stays open (it carries the response); the rest of its body is discarded.
      payload.unpipe(decoder);
      payload.resume();
      decoder.destroy();
      limited.destroy(error);
    };
    decoder.on('error', (error) => stop(new ModelServeError('MS_ERR_BAD_ENCODING', `request body is not valid ${codings[0]} data: ${error.message}`)));
    limited.on('error', () => { payload.unpipe(decoder); payload.resume(); decoder.destroy(); });
    payload.pipe(decoder).pipe(limited);
    done(null, limited);
  });
}
