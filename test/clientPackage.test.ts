import { expect } from 'chai';
import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createAuditClient } from '@audit-service/client';
import { CLIENT_DIR } from '../scripts/buildClient';
import { createTestDatabase, type TestDatabase } from './helpers/databases';
import { startService, type RunningService } from './helpers/service';
import { mintToken } from './helpers/tokens';

const run = promisify(execFile);
const ROOT = path.resolve(CLIENT_DIR, '../..');
const TSC = path.join(ROOT, 'node_modules/.bin/tsc');
const EXAMPLES = path.join(ROOT, 'test/clientConsumer/examples.ts');
const TYPE_ERRORS = path.join(ROOT, 'test/clientConsumer/typeErrors.ts');

/** The consumers other teams are: each its own project, module system and resolution. */
const CONSUMERS = {
  nodenext: { type: 'module', compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' } },
  node16: { type: 'module', compilerOptions: { module: 'Node16', moduleResolution: 'Node16' } },
  bundler: { type: 'module', compilerOptions: { module: 'ESNext', moduleResolution: 'Bundler' } },
  commonjs: { type: 'commonjs', compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' } },
} as const;

/** Runs the README examples against the server named in config.ts and prints what they returned. */
const RUNNER = `import { batchingLogger, typedCalls } from './examples.js';
import { baseUrl, token } from './config.js';

async function main(): Promise<void> {
  const id = await typedCalls(baseUrl, async () => token);
  const metrics = await batchingLogger(baseUrl, async () => token);
  console.log('RESULT ' + JSON.stringify({ id, metrics }));
}
main().catch((error: unknown) => {
  console.error(error);
  throw error;
});
`;

/** A browser app's entry: what a bundler has to resolve. */
const BROWSER_ENTRY = `import { createAuditClient, createAuditLogger } from '@audit-service/client';
const token = () => Promise.resolve('jwt');
export const audit = createAuditClient({ baseUrl: location.origin, apiKey: 'web-app', token });
export const logger = createAuditLogger({ baseUrl: location.origin, apiKey: 'web-app', token });
`;

async function install(dir: string, tarball: string): Promise<void> {
  const args = ['install', '--no-audit', '--no-fund', tarball];
  try {
    await run('npm', [...args, '--offline'], { cwd: dir });
  } catch {
    await run('npm', [...args, '--prefer-offline'], { cwd: dir });
  }
}

describe('The client package, installed from its tarball by outside consumers', function () {
  this.timeout(240_000);
  let scratch: string;
  let tarball: string;
  let packedFiles: string[];
  let database: TestDatabase;
  let running: RunningService;
  const compiled: Record<string, string | undefined> = {};

  before(async () => {
    scratch = mkdtempSync(path.join(tmpdir(), 'audit-client-'));
    // npm pack runs the package's prepack (npm run build:client), as a release would.
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: CLIENT_DIR });
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    tarball = path.join(scratch, packed.filename);
    packedFiles = packed.files.map((file) => file.path);

    await Promise.all(
      Object.entries(CONSUMERS).map(async ([name, { type, compilerOptions }]) => {
        const dir = path.join(scratch, name);
        mkdirSync(dir);
        writeFileSync(
          path.join(dir, 'package.json'),
          JSON.stringify({ name: `consumer-${name}`, private: true, type }),
        );
        writeFileSync(
          path.join(dir, 'tsconfig.json'),
          JSON.stringify({
            compilerOptions: {
              ...compilerOptions,
              target: 'ES2022',
              lib: ['ES2022', 'DOM'],
              // No @types/node: the package's types must stand on the DOM's fetch alone, as in a browser.
              types: [],
              strict: true,
              skipLibCheck: false,
              outDir: 'out',
              rootDir: '.',
            },
            include: ['*.ts'],
          }),
        );
        cpSync(EXAMPLES, path.join(dir, 'examples.ts'));
        cpSync(TYPE_ERRORS, path.join(dir, 'typeErrors.ts'));
        writeFileSync(path.join(dir, 'run.ts'), RUNNER);
        // Replaced in out/ by the live server's address and a token before the run.
        writeFileSync(
          path.join(dir, 'config.ts'),
          "export const baseUrl: string = '';\nexport const token: string = '';\n",
        );
        await install(dir, tarball);
        // Compiled here, all at once, and checked by each consumer's test below.
        compiled[name] = await run(TSC, ['-p', dir]).then(
          () => undefined,
          (error: { stdout?: string }) => `tsc failed in the ${name} consumer:\n${error.stdout}`,
        );
      }),
    );
    database = await createTestDatabase('sqlite');
    running = await startService(database.url);
  });
  after(async () => {
    await running?.close();
    await database?.dispose();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('packs only the built package: JavaScript for ESM and CommonJS, declarations, the generated contract types', () => {
    expect(packedFiles).to.include.members([
      'package.json',
      'dist/esm/index.js',
      'dist/esm/index.d.ts',
      'dist/esm/openapi.generated.d.ts',
      'dist/esm/package.json',
      'dist/cjs/index.js',
      'dist/cjs/index.d.ts',
      'dist/cjs/openapi.generated.d.ts',
    ]);
    expect(packedFiles.filter((file) => !file.startsWith('dist/') && file !== 'package.json')).to.deep.equal([]);
    const manifest = JSON.parse(
      readFileSync(path.join(scratch, 'nodenext/node_modules/@audit-service/client/package.json'), 'utf8'),
    ) as {
      dependencies: Record<string, string>;
    };
    expect(manifest.dependencies).to.deep.equal({
      '@noble/curves': '2.4.0',
      '@noble/hashes': '2.4.0',
      'openapi-fetch': '0.17.0',
    });
  });

  for (const name of Object.keys(CONSUMERS)) {
    it(`${name}: compiles with tsc (a misspelt field is an error), and runs the README examples against a live server`, async () => {
      const dir = path.join(scratch, name);
      const token = await mintToken({ clientId: 'my-app', orgs: ['ACME@AdobeOrg'] });
      expect(compiled).to.have.property(name);
      if (compiled[name]) throw new Error(compiled[name]);
      const built = readFileSync(path.join(dir, 'out/examples.js'), 'utf8');
      expect(built).to.contain(
        name === 'commonjs' ? 'require("@audit-service/client")' : "from '@audit-service/client'",
      );
      writeFileSync(
        path.join(dir, 'out/config.js'),
        (name === 'commonjs'
          ? 'exports.baseUrl = %s; exports.token = %s;'
          : 'export const baseUrl = %s; export const token = %s;'
        )
          .replace('%s', JSON.stringify(running.url))
          .replace('%s', JSON.stringify(token)),
      );
      const { stdout } = await run(process.execPath, [path.join(dir, 'out/run.js')], { cwd: dir });
      const result = JSON.parse(stdout.slice(stdout.indexOf('RESULT ') + 7)) as { id: string; metrics: object };
      expect(result.metrics).to.deep.equal({ sent: 1, retried: 0, dropped: 0, failed: 0, pending: 0 });
      const client = createAuditClient({ baseUrl: running.url, apiKey: 'my-app', token });
      const stored = await client.GET('/audits/{id}', { params: { path: { id: result.id } } });
      expect(stored.data).to.include({ id: result.id, imsOrgId: 'ACME@AdobeOrg', action: 'update' });
    });
  }

  it('bundles for the browser with esbuild, pulling in no Node built-in', async () => {
    const dir = path.join(scratch, 'bundler');
    writeFileSync(path.join(dir, 'browser.ts'), BROWSER_ENTRY);
    const result = await build({
      entryPoints: [path.join(dir, 'browser.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      absWorkingDir: dir,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs).to.include('node_modules/@audit-service/client/dist/esm/index.js');
    expect(inputs.some((input) => input.includes('openapi-fetch'))).to.equal(true);
    expect(inputs.filter((input) => !input.startsWith('node_modules/') && input !== 'browser.ts')).to.deep.equal([]);
    const output = result.outputFiles[0].text;
    expect(output).to.not.match(/\brequire\(|from ["']node:/);
  });
});

/** The README quotes the examples' regions; each ```ts block of its client section must be one of them. */
describe('The README client section', () => {
  it('quotes test/clientConsumer/examples.ts exactly', () => {
    const examples = readFileSync(EXAMPLES, 'utf8');
    const regions = [...examples.matchAll(/^ *\/\/ README: (?!end)(.+)\n([\s\S]*?)^ *\/\/ README: end$/gm)].map(
      ([, , body]) => {
        const lines = body.replace(/\n$/, '').split('\n');
        const indent = Math.min(...lines.filter((line) => line.trim()).map((line) => /^ */.exec(line)![0].length));
        return lines.map((line) => line.slice(indent)).join('\n');
      },
    );
    expect(regions).to.have.length(4);
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(
      readme.indexOf('## The client package'),
      readme.indexOf('\n## ', readme.indexOf('## The client package') + 1),
    );
    const blocks = [...section.matchAll(/```ts\n([\s\S]*?)\n```/g)].map(([, block]) => block);
    expect(blocks).to.deep.equal(regions);
  });
});
