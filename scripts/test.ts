// `npm test`: every check CI runs, in order, stopping at the first failure.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const bin = (name: string) => path.join('node_modules', '.bin', name);

function run(title: string, command: string, args: string[]): void {
  console.log(`\n=== ${title}: ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`\n✗ ${title} failed`);
    process.exit(result.status ?? 1);
  }
}

if (process.env.CI && !process.env.TEST_POSTGRES_URL) {
  // In CI the PostgreSQL suites must run, never skip.
  console.error('CI is set but TEST_POSTGRES_URL is not: refusing to skip the PostgreSQL tests');
  process.exit(1);
}

// 1. The committed types must be what the spec generates.
const scratch = mkdtempSync(path.join(tmpdir(), 'audit-generate-'));
try {
  const fresh = path.join(scratch, 'openapi.d.ts');
  run('generated types are current', bin('openapi-typescript'), ['api/openapi.yaml', '-o', fresh, '--silent']);
  if (readFileSync(fresh, 'utf8') !== readFileSync('generated/openapi.d.ts', 'utf8')) {
    console.error('\n✗ generated/openapi.d.ts is stale: run `npm run generate` and commit the result');
    process.exit(1);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

run('format', bin('prettier'), ['--check', '.']);
run('type check', bin('tsc'), ['--noEmit', '-p', '.']);
run('type check (the viewer, browser code)', bin('tsc'), ['--noEmit', '-p', 'src/viewer']);
run('lint (typescript-eslint, layering)', bin('eslint'), ['.', '--max-warnings', '0']);
run('unit and integration tests', bin('mocha'), ['test/**/*.test.ts']);
run('contract test (Dredd)', 'npm', ['run', '-s', 'test:contract']);
if (!process.env.TEST_POSTGRES_URL) {
  console.log('\nNOTICE: the PostgreSQL tests were SKIPPED (set TEST_POSTGRES_URL=postgres://… to run them).');
}
console.log('\n✓ all checks passed');
