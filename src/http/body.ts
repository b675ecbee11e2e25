import type { IncomingMessage } from 'node:http';
import type Koa from 'koa';
import bodyParser from 'koa-bodyparser';
import { AuditError } from '../domain/errors';

/**
 * Requests that sent `Expect: 100-continue` and have not been told to go on. Node leaves the
 * `100 Continue` to us when the server handles 'checkContinue' (see acceptContinue in app.ts), so
 * it is sent only once the request has passed authentication and the size check.
 */
export const awaitingContinue = new WeakSet<IncomingMessage>();

/** Reads a JSON request body of at most `limitBytes` with koa-bodyparser; answers the parsed value. */
export type BodyReader = (ctx: Koa.Context) => Promise<unknown>;

export function jsonBodyReader(limitBytes: number): BodyReader {
  const parse = bodyParser({
    enableTypes: ['json'],
    jsonLimit: String(limitBytes),
    // Any JSON value: a body that is not an object or array gets the schema's message instead.
    strict: false,
    // The media type was checked already (assertJson), more exactly than type-is does.
    detectJSON: () => true,
  });
  return async (ctx) => {
    assertJson(ctx);
    const length = ctx.request.length;
    // Before a byte is read, and before a client waiting on `Expect: 100-continue` sends any.
    if (length !== undefined && length > limitBytes) throw tooLarge(limitBytes);
    if (awaitingContinue.delete(ctx.req)) ctx.res.writeContinue();
    const utf8 = watchUtf8(ctx.req);
    try {
      await parse(ctx, async () => {});
    } catch (error) {
      throw readError(error as Error & { type?: string }, limitBytes);
    } finally {
      utf8.stop();
    }
    if (!utf8.valid()) throw new AuditError('bad_request', 'body is not valid UTF-8');
    if (ctx.request.rawBody.trim() === '') throw new AuditError('bad_request', 'body is empty; expected JSON');
    return ctx.request.body;
  };
}

/**
 * 415 unless the body is declared as JSON in UTF-8 and sent without a content coding. The media
 * type is matched as RFC 9110 says: case-insensitively, with optional whitespace around `;`.
 */
function assertJson(ctx: Koa.Context): void {
  const header = ctx.get('content-type');
  if (header !== 'application/json') {
    const [type, ...parameters] = header.split(';').map((part) => part.trim());
    if (type.toLowerCase() !== 'application/json') {
      const named = type ? `, got ${JSON.stringify(type.slice(0, 100))}` : '';
      throw new AuditError('unsupported_media_type', `content-type must be application/json${named}`);
    }
    for (const parameter of parameters) {
      const [name, value = ''] = parameter.split('=').map((part) => part.trim());
      const charset = value.replace(/^"(.*)"$/, '$1');
      if (name.toLowerCase() === 'charset' && charset.toLowerCase() !== 'utf-8') {
        throw new AuditError(
          'unsupported_media_type',
          `charset must be utf-8, got ${JSON.stringify(charset.slice(0, 100))}`,
        );
      }
    }
  }
  const coding = ctx.get('content-encoding').trim().toLowerCase();
  if (coding !== '' && coding !== 'identity') {
    throw new AuditError(
      'unsupported_media_type',
      `content-encoding ${JSON.stringify(coding.slice(0, 100))} is not supported; send the body uncompressed`,
    );
  }
}

/**
 * co-body decodes the bytes leniently (an invalid sequence becomes U+FFFD, indistinguishable from a
 * sent one), so a strict decoder checks the same chunks as they arrive.
 */
function watchUtf8(stream: IncomingMessage): { valid(): boolean; stop(): void } {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let valid = true;
  const check = (chunk: Buffer) => {
    if (!valid) return;
    try {
      decoder.decode(chunk, { stream: true });
    } catch {
      valid = false;
    }
  };
  stream.on('data', check);
  return {
    valid() {
      if (valid) {
        try {
          decoder.decode(); // a sequence cut off at the end
        } catch {
          valid = false;
        }
      }
      return valid;
    },
    stop: () => stream.off('data', check),
  };
}

function readError(error: Error & { type?: string }, limitBytes: number): AuditError {
  if (error.type === 'entity.too.large') return tooLarge(limitBytes);
  if (error instanceof SyntaxError) {
    // V8 quotes the text around an unexpected token: payload, which no error body repeats.
    const reason = error.message.endsWith('is not valid JSON') ? 'unexpected token' : error.message;
    return new AuditError('bad_request', `body is not valid JSON: ${reason}`);
  }
  return new AuditError('bad_request', `request body could not be read: ${error.message}`);
}

function tooLarge(limitBytes: number): AuditError {
  return new AuditError('payload_too_large', `request body exceeds the limit of ${limitBytes} bytes`);
}
