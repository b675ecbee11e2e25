import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The running module is src/… under tsx and dist/main.js in the build (npm start): the
// project's own files (the spec, the docs page) are found from the package root above it.
const PROJECT_ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
})();

/** A file of this project, by its path from the project root. */
export const projectPath = (...segments: string[]): string => path.join(PROJECT_ROOT, ...segments);
