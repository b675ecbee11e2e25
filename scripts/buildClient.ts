// `npm run build:client` (also run by `npm pack` in src/client): builds the client package into
// src/client/dist, self-contained: esbuild writes its ESM and CommonJS JavaScript, tsc its
// declarations, and the generated contract types are copied in beside them. dist/esm and
// dist/cjs each hold a full set of .d.ts files, since a .d.ts is read as ESM or CommonJS by the
// nearest package.json's "type" (dist/esm has its own), and one set cannot serve both.
// The package itself is CommonJS (no "type"): esbuild then gives the CommonJS build the
// __esModule interop that openapi-fetch's CommonJS default export needs.
// @noble/hashes and @noble/curves ship ESM only, which require() loads only from Node 20.19 on
// (and with a warning before 22.12), so the CommonJS build carries its own copy of what it uses;
// the ESM build imports them, so that an application's bundle holds them once.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
export const CLIENT_DIR = path.join(root, 'src/client');
const dist = path.join(CLIENT_DIR, 'dist');

/** The one import that leaves the package in source (src/client/openapi.ts), and where it points in dist. */
const GENERATED_IMPORT = "'../../generated/openapi.js'";
const PACKAGED_IMPORT = "'./openapi.generated.js'";

export async function buildClient(): Promise<void> {
  rmSync(dist, { recursive: true, force: true });
  const types = path.join(dist, 'types');
  execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', CLIENT_DIR], {
    stdio: 'inherit',
  });
  const openapi = path.join(types, 'openapi.d.ts');
  const source = readFileSync(openapi, 'utf8');
  if (!source.includes(GENERATED_IMPORT)) throw new Error(`${openapi} no longer imports ${GENERATED_IMPORT}`);
  writeFileSync(openapi, source.replace(GENERATED_IMPORT, PACKAGED_IMPORT));
  cpSync(path.join(root, 'generated/openapi.d.ts'), path.join(types, 'openapi.generated.d.ts'));
  for (const file of readdirSync(types)) {
    if (readFileSync(path.join(types, file), 'utf8').includes("from '../")) {
      throw new Error(`${file} imports from outside the package`);
    }
  }

  for (const format of ['esm', 'cjs'] as const) {
    const out = path.join(dist, format);
    mkdirSync(out, { recursive: true });
    cpSync(types, out, { recursive: true });
    await build({
      entryPoints: [path.join(CLIENT_DIR, 'index.ts')],
      outfile: path.join(out, 'index.js'),
      bundle: true,
      format,
      platform: 'neutral',
      target: 'es2022',
      ...(format === 'esm' ? { packages: 'external' as const } : { external: ['openapi-fetch'] }),
      logLevel: 'warning',
    });
  }
  writeFileSync(path.join(dist, 'esm/package.json'), `${JSON.stringify({ type: 'module' })}\n`);
  rmSync(types, { recursive: true });
}

if (import.meta.url === `file://${process.argv[1]}`) await buildClient();
