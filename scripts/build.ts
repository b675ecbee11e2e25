// `npm run build` (run by `npm start` first): bundles the service into dist/ with esbuild.
// Production runs plain JavaScript, without tsx's loader thread (about 30 MB of RSS). The
// SQLite commit and verify threads are entry points of their own, next to main.js (see store/threads.ts).
// Dependencies stay in node_modules; the spec and docs files are read from the project.
// The viewer's page (GET /) is bundled for browsers into dist/viewer/: viewer.js and viewer.css.
import { build } from 'esbuild';

export const BUILT = { service: 'dist/main.js', viewer: 'dist/viewer' };

/** Builds dist/main.js and its commit thread, plus any entry point given as { name: source } (the bench's Koa echo). */
export async function buildService(extraEntryPoints: Record<string, string> = {}): Promise<void> {
  await build({
    entryPoints: {
      main: 'src/main.ts',
      sqliteCommitThread: 'src/store/sqliteCommitThread.ts',
      sqliteVerifyThread: 'src/store/sqliteVerifyThread.ts',
      ...extraEntryPoints,
    },
    outdir: 'dist',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
}

/**
 * Builds the viewer: the page, Preact and the client package's checks in one minified script,
 * and its stylesheet (imported by the entry), for the browsers of the last few years.
 */
export async function buildViewer(outdir: string = BUILT.viewer): Promise<void> {
  await build({
    entryPoints: { viewer: 'src/viewer/main.tsx' },
    outdir,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: ['es2022', 'chrome111', 'firefox115', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    tsconfig: 'src/viewer/tsconfig.json',
    logLevel: 'warning',
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await Promise.all([buildService(), buildViewer()]);
