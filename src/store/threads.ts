import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts one of the store's worker threads (`name`: its module, which sits next to this one):
 * .js in the build (npm start), .ts when the source runs under tsx. Node 20 does not carry
 * tsx's loader into worker threads, so from the source the thread loads its module through
 * tsx's API. scripts/build.ts bundles each thread as its own entry point.
 */
export function startStoreThread(name: string, options: WorkerOptions): Worker {
  if (import.meta.url.endsWith('.js')) return new Worker(new URL(`./${name}.js`, import.meta.url), options);
  const thread = JSON.stringify(fileURLToPath(new URL(`./${name}.ts`, import.meta.url)));
  const tsx = JSON.stringify(createRequire(import.meta.url).resolve('tsx/cjs'));
  return new Worker(`require(${tsx}); require(${thread});`, { ...options, eval: true });
}
