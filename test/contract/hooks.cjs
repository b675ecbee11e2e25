// Dredd hooks for `npm run test:contract` (scripts/contract.ts starts the server and passes the tokens).
// Dredd sends each documented example request and, by default, skips every non-2xx response.
// These hooks add the credentials and turn each documented 4xx into a request that really causes it,
// so a status the server stops producing (or answers with the wrong shape) fails the run.
const http = require('node:http');
const { randomUUID } = require('node:crypto');
const hooks = require('hooks');

const { CONTRACT_CLIENT_ID, CONTRACT_TOKEN, CONTRACT_UNSCOPED_TOKEN } = process.env;
if (!CONTRACT_CLIENT_ID || !CONTRACT_TOKEN || !CONTRACT_UNSCOPED_TOKEN) {
  throw new Error('hooks.cjs needs the tokens from scripts/contract.ts; run `npm run test:contract`');
}

// The server's default body limits, which the spec documents: 64 KiB, and 1 MiB for batches.
const BODY_LIMIT_BYTES = 64 * 1024;
const BATCH_BODY_LIMIT_BYTES = 1024 * 1024;

const PUBLIC_PATH =
  /^\/($|health\/|metrics$|openapi\.(json|yaml)$|docs(\/|$)|viewer\/|dev\/token$|audits\/checkpoint\/key$)/;

function expectedHeader(transaction, name) {
  const headers = transaction.expected.headers ?? {};
  const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === name.toLowerCase());
  return key && headers[key];
}

/** Headers in Dredd's transaction keep the spec's spelling; look them up case-insensitively. */
function setHeader(request, name, value) {
  for (const key of Object.keys(request.headers)) {
    if (key.toLowerCase() === name.toLowerCase()) delete request.headers[key];
  }
  if (value !== undefined) request.headers[name] = value;
}

function jsonBody(transaction) {
  if (!transaction.request.body) throw new Error('has no request body to change');
  return JSON.parse(transaction.request.body);
}

/** The event to spoil: the body itself, or a batch's first item. */
function firstEvent(body) {
  return Array.isArray(body) ? body[0] : body;
}

/** Sends a request straight to the server under test (to set up state a transaction depends on). */
function send(transaction, method, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: transaction.host, port: transaction.port, path: transaction.fullPath, method, headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * How to cause each documented error status. Keyed by status rather than by transaction name
 * (`/audits > <summary> > 400 > application/json`), so a new summary or operation needs no edit
 * as long as the same recipe applies; one that does not fails loudly instead of being skipped.
 */
const provoke = {
  400(transaction) {
    if (!transaction.request.body) {
      // An operation without a body: a query parameter the spec does not know.
      const separator = transaction.fullPath.includes('?') ? '&' : '?';
      transaction.fullPath = transaction.request.uri = `${transaction.fullPath}${separator}unknown=1`;
      return;
    }
    // A missing required field and an impossible timestamp: both are reported in one 400.
    const body = jsonBody(transaction);
    delete firstEvent(body).action;
    firstEvent(body).timestamp = '2017-02-30T00:00:00Z';
    transaction.request.body = JSON.stringify(body);
  },
  401(transaction) {
    setHeader(transaction.request, 'x-api-key', undefined);
    setHeader(transaction.request, 'Authorization', undefined);
  },
  403(transaction) {
    // Valid credentials for every org, but without the operation's scope.
    setHeader(transaction.request, 'Authorization', `Bearer ${CONTRACT_UNSCOPED_TOKEN}`);
  },
  413(transaction) {
    const body = jsonBody(transaction);
    // JSON punctuation alone pushes it over the limit.
    firstEvent(body).padding = 'x'.repeat(Array.isArray(body) ? BATCH_BODY_LIMIT_BYTES : BODY_LIMIT_BYTES);
    transaction.request.body = JSON.stringify(body);
  },
  415(transaction) {
    jsonBody(transaction); // only operations that take a JSON body can refuse another media type
    setHeader(transaction.request, 'Content-Type', 'text/plain');
  },
  404(transaction) {
    // A dev-only operation on this server (not in dev mode) is no route at all: ask as it is.
    if (transaction.request.uri === '/dev/token') return;
    // A path parameter that names nothing: a fresh UUID as the last segment.
    const [pathname, query] = transaction.fullPath.split('?');
    const missing = `${pathname.replace(/[^/]+$/, randomUUID())}${query ? `?${query}` : ''}`;
    transaction.fullPath = transaction.request.uri = missing;
  },
  async 422(transaction) {
    // Use the key once with another body; the example request then reuses it.
    const body = jsonBody(transaction);
    firstEvent(body).action = 'another action';
    const key = randomUUID();
    const { status } = await send(
      transaction,
      transaction.request.method,
      { ...transaction.request.headers, 'Idempotency-Key': key },
      JSON.stringify(body),
    );
    if (status !== 201) throw new Error(`the first use of the key got ${status}, not 201`);
    setHeader(transaction.request, 'Idempotency-Key', key);
  },
};

// Neither can be caused from outside: they need a server bug or a database outage.
const UNPROVOKABLE = new Set(['500', '503']);

hooks.beforeEach(async (transaction, done) => {
  try {
    await prepare(transaction);
  } catch (error) {
    transaction.fail = `cannot provoke ${transaction.expected.statusCode}: ${error.message}`;
  }
  done();
});

// GET /audits/{id} and /audits/{id}/proof, as opposed to /audits/export and /audits/verify.
const EVENT_PATH = /^\/audits\/[0-9a-f]{8}-[0-9a-f-]{27}(\/proof)?(\?.*)?$/;
const SUBSCRIPTION_PATH = /^\/audits\/subscriptions\/[0-9a-f]{8}-[0-9a-f-]{27}/;
const ERASURE_PATH = /^\/audits\/erasures\/[0-9a-f]{8}-[0-9a-f-]{27}$/;
let storedEventId;

/** Stores the POST /audits example once, so that GET /audits/{id} has an event to read. */
hooks.beforeAll(async (transactions, done) => {
  try {
    const post = transactions.find((t) => t.request.method === 'POST' && t.request.uri === '/audits');
    const headers = {
      'Content-Type': 'application/json',
      'x-api-key': CONTRACT_CLIENT_ID,
      Authorization: `Bearer ${CONTRACT_TOKEN}`,
    };
    const { status, body } = await send(post, 'POST', headers, post.request.body);
    if (status !== 201) throw new Error(`storing the example event got ${status}`);
    storedEventId = JSON.parse(body);
  } catch (error) {
    console.error(`contract hooks: ${error.message}`);
    process.exitCode = 1;
  }
  done();
});

function jsonHeaders() {
  return {
    'Content-Type': 'application/json',
    'x-api-key': CONTRACT_CLIENT_ID,
    Authorization: `Bearer ${CONTRACT_TOKEN}`,
  };
}

/** A fresh data subject with one event in the example tenant, for an erasure to erase. */
async function subjectToErase(transaction) {
  const subject = `erased.subject+${randomUUID()}@example.com`;
  const event = {
    source: 'marketingcloud',
    service: { serviceId: 'SKMS-1234' },
    resource: { resourceId: 'stream/42' },
    action: 'update',
    imsOrgId: 'ACME@AdobeOrg',
    timestamp: '2017-10-31T00:02:04.232Z',
    userIdentifier: subject,
  };
  const { status } = await send({ ...transaction, fullPath: '/audits' }, 'POST', jsonHeaders(), JSON.stringify(event));
  if (status !== 201) throw new Error(`storing an event to erase got ${status}`);
  return subject;
}

async function prepare(transaction) {
  const { request, expected } = transaction;
  const status = expected.statusCode;
  // Every transaction gets its own key (Dredd would send the spec's one example key everywhere).
  if (Object.keys(request.headers).some((name) => name.toLowerCase() === 'idempotency-key')) {
    setHeader(request, 'Idempotency-Key', randomUUID());
  }

  // Probes, metrics, the spec and the docs are unauthenticated (security: []); every other
  // operation needs both credentials.
  if (!PUBLIC_PATH.test(request.uri)) {
    setHeader(request, 'x-api-key', CONTRACT_CLIENT_ID);
    setHeader(request, 'Authorization', `Bearer ${CONTRACT_TOKEN}`);
  }

  if (/^2\d\d$/.test(status)) {
    const mediaType = expectedHeader(transaction, 'Content-Type') ?? '';
    // A Server-Sent Events stream never ends, so Dredd would wait for its body forever;
    // test/streamAuditEvents.test.ts checks its status, media type and messages.
    if (mediaType.startsWith('text/event-stream')) {
      transaction.skip = true;
      return;
    }
    // POST /dev/token exists only in dev mode, and this server verifies with a secret (its 404
    // is checked below); test/devToken.test.ts checks the 200 on a dev-mode server.
    if (request.uri === '/dev/token') {
      transaction.skip = true;
      return;
    }
    // GET /audits/{id}(/proof): the example id names no event; read the one stored before the
    // run, in the current tree (the example treeSize is past a fresh log's size).
    const event = EVENT_PATH.exec(request.uri);
    if (request.method === 'GET' && event) {
      transaction.fullPath = transaction.request.uri = `/audits/${storedEventId}${event[1] ?? ''}`;
    }
    // Tree sizes the example log has: it holds at least the event stored before the run.
    if (/^\/audits\/(consistency|verify)\?/.test(request.uri)) {
      transaction.fullPath = transaction.request.uri = transaction.fullPath
        .replace(/([?&])from=\d+/, '$1from=1')
        .replace(/([?&])to=\d+/, '$1to=1')
        .replace(/([?&])since=\d+/, '$1since=1');
    }
    // /audits/subscriptions/{id}…: the example id names nothing; each transaction gets a fresh
    // subscription (one of them deletes its own).
    if (SUBSCRIPTION_PATH.test(request.uri)) {
      const { status, body } = await send(
        { ...transaction, fullPath: '/audits/subscriptions' },
        'POST',
        {
          'Content-Type': 'application/json',
          'x-api-key': CONTRACT_CLIENT_ID,
          Authorization: `Bearer ${CONTRACT_TOKEN}`,
        },
        JSON.stringify({ imsOrgId: 'ACME@AdobeOrg', url: 'https://siem.example.com/hooks/audit', format: 'json' }),
      );
      if (status !== 201) throw new Error(`creating a subscription got ${status}`);
      const { id } = JSON.parse(body);
      transaction.fullPath = transaction.request.uri = request.uri.replace(
        SUBSCRIPTION_PATH,
        `/audits/subscriptions/${id}`,
      );
    }
    // POST /audits/erasures answers 202 only for an erasure that outlasts the request's wait (about
    // a second): too slow to cause here; test/erasure.test.ts erases 100,000 events to get one.
    if (request.method === 'POST' && request.uri === '/audits/erasures' && status === '202') {
      transaction.skip = true;
      return;
    }
    // POST /audits/erasures erases a subject of its own, with an event to erase (not the example's
    // subject: GET /audits/{id} reads the example event, whose example still has its values).
    if (request.method === 'POST' && request.uri === '/audits/erasures') {
      transaction.request.body = JSON.stringify({
        imsOrgId: 'ACME@AdobeOrg',
        userIdentifier: await subjectToErase(transaction),
      });
    }
    // GET /audits/erasures/{id}: the example id names nothing; erase such a subject first.
    if (request.method === 'GET' && ERASURE_PATH.test(request.uri)) {
      const { status, body } = await send(
        { ...transaction, fullPath: '/audits/erasures' },
        'POST',
        jsonHeaders(),
        JSON.stringify({ imsOrgId: 'ACME@AdobeOrg', userIdentifier: await subjectToErase(transaction) }),
      );
      if (status !== 201) throw new Error(`creating an erasure got ${status}`);
      transaction.fullPath = transaction.request.uri = `/audits/erasures/${JSON.parse(body).id}`;
    }
    // The export documents two media types; ask for the one this transaction expects.
    if (mediaType.startsWith('text/csv')) {
      transaction.fullPath = transaction.request.uri = transaction.fullPath.replace('format=ndjson', 'format=csv');
    }
    // /docs/{asset} and /viewer/{asset} document a stylesheet and scripts; the examples name the stylesheet.
    if (mediaType.startsWith('text/javascript')) {
      const script = request.uri.startsWith('/viewer/') ? 'viewer.js' : 'swagger-initializer.js';
      transaction.fullPath = transaction.request.uri = transaction.fullPath.replace(/[^/]+$/, script);
    }
    // Dredd compares a non-JSON body with the example byte for byte; for metrics, the spec and
    // the docs page the example is only a sample, so check the status and Content-Type only.
    if (!/json/.test(mediaType)) {
      delete expected.body;
      delete expected.bodySchema;
    }
    return;
  }
  if (UNPROVOKABLE.has(status)) {
    transaction.skip = true;
    return;
  }
  transaction.skip = false;
  if (!provoke[status]) {
    transaction.fail = `no hook provokes ${status}; add one to test/contract/hooks.cjs`;
    return;
  }
  await provoke[status](transaction);
}
