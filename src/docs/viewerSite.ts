import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { projectPath } from '../projectPath';
import { CSS, JAVASCRIPT, type PageAsset } from './site';

/** Where `npm run build` puts the viewer's bundle (scripts/build.ts). */
export const VIEWER_BUILD_DIR = projectPath('dist', 'viewer');
const PAGE = projectPath('src', 'viewer', 'index.html');

/**
 * The viewer may load its script and stylesheet from this server and call this server's API,
 * nothing else: no inline script or style, no other host, no plugins, no framing.
 */
export const VIEWER_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The files of GET / and GET /viewer/{asset}, read once at start-up. */
export class ViewerSite {
  private constructor(
    readonly page: Buffer,
    private readonly assets: ReadonlyMap<string, PageAsset>,
    /** The bundle files that were not found (the viewer was not built). */
    readonly missing: readonly string[],
  ) {}

  static async load(buildDir = VIEWER_BUILD_DIR): Promise<ViewerSite> {
    const files = [
      ['viewer.js', JAVASCRIPT],
      ['viewer.css', CSS],
    ] as const;
    const assets = new Map<string, PageAsset>();
    const missing: string[] = [];
    await Promise.all(
      files.map(async ([name, contentType]) => {
        try {
          assets.set(name, { contentType, body: await readFile(path.join(buildDir, name)) });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          missing.push(path.join(buildDir, name));
        }
      }),
    );
    return new ViewerSite(await readFile(PAGE), assets, missing);
  }

  asset(name: string): PageAsset | undefined {
    return this.assets.get(name);
  }
}
