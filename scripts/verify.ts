// Verifies a tenant's hash chain straight from the database, as GET /audits/verify does.
//   npm run verify -- --org ORG [--database URL]
// or, with --offline, an export against a signed checkpoint with the client package alone
// (scripts/verifyOffline.ts): no database, no network.
// Exit status: 0 intact, 1 broken, 2 usage or database error.
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { DatabaseConfig } from '../src/config';

if (process.argv.includes('--offline')) {
  // Before any database code is loaded: the offline check needs none of the server. It runs as an
  // esbuild bundle, as npm start runs the service: under tsx the client's sources are CommonJS,
  // and tsx's conversion of noble's ESM for them makes the check about four times slower.
  const { build } = await import('esbuild');
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('verifyOffline.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
    logLevel: 'warning',
  });
  const code = Buffer.from(bundle.outputFiles[0].contents).toString('base64');
  const { verifyOffline } = (await import(`data:text/javascript;base64,${code}`)) as typeof import('./verifyOffline');
  const status = await verifyOffline(process.argv.slice(2));
  await new Promise((resolve) => process.stdout.write('', resolve));
  process.exit(status);
}
const { ConfigError, loadConfig, parseDatabaseUrl, withoutCredentials } = await import('../src/config');
const { AuditStore } = await import('../src/store/auditStore');
const { openDatabase } = await import('../src/store/db');

/** A usage or database problem: one line on stderr, exit 2, nothing created or changed. */
function fail(message: string): never {
  console.error(`verify: ${withoutCredentials(message)}`);
  process.exit(2);
}

const { values } = parseArgs({ options: { org: { type: 'string' }, database: { type: 'string' } } });
if (!values.org) {
  console.error('usage: npm run verify -- --org ORG [--database sqlite:data/audit.db | postgres://…]');
  process.exit(2);
}
let database: DatabaseConfig;
try {
  database = values.database ? parseDatabaseUrl(values.database) : loadConfig().database;
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}
// Opening a SQLite path creates the file (and openDatabase its folder): a mistyped path would
// leave an empty database behind and fail with SQL. Verifying needs one that exists.
if (database.client === 'sqlite' && !statSync(database.filename, { throwIfNoEntry: false })?.isFile()) {
  fail(`no SQLite database at ${path.resolve(database.filename)} (check --database or DATABASE_URL)`);
}
const store = new AuditStore(openDatabase(database));
const progress = process.stderr.isTTY ? drawProgress : () => {};

try {
  const started = performance.now();
  const result = await store.log.verify(values.org, { onProgress: progress });
  if (process.stderr.isTTY) process.stderr.write('\n');
  const seconds = (performance.now() - started) / 1000;
  const rate = Math.round(result.count / Math.max(seconds, 1e-3));
  console.log(JSON.stringify(result, null, 2));
  if (result.verified) {
    console.log(
      `OK: ${result.count} events verified in ${seconds.toFixed(2)} s (${rate} events/s); tree size ${result.treeSize}, root ${result.rootHash}`,
    );
  } else {
    console.log(`BROKEN at seq ${result.brokenAt}: ${result.reason}`);
  }
  process.exitCode = result.verified ? 0 : 1;
} catch (error) {
  const message = (error as Error).message;
  // The file or schema exists but the service never created its tables there.
  if (/no such table|relation .* does not exist/.test(message))
    console.error("verify: that database holds no audit events (not the service's database, or never started on it)");
  else console.error(`verify: verification failed: ${withoutCredentials(message)}`);
  process.exitCode = 2;
} finally {
  await store.close();
}

function drawProgress(checked: number, total: number): void {
  const width = 30;
  const fraction = total > 0 ? Math.min(checked / total, 1) : 1;
  const filled = Math.round(fraction * width);
  process.stderr.write(
    `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${checked}/${total}`,
  );
}
