import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { projectPath } from '../projectPath';

const HERE = projectPath('src', 'docs');
const SWAGGER_UI = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** The page may load scripts, styles, images and API calls from this server only. */
export const DOCS_CSP = [
  "default-src 'self'",
  "img-src 'self' data:", // Swagger UI's stylesheet draws its icons as data: URIs
  "form-action 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const CSS = 'text/css; charset=utf-8';
export const JAVASCRIPT = 'text/javascript; charset=utf-8';

/** A file of a page the service serves (the docs', the viewer's), read once at start-up. */
export interface PageAsset {
  contentType: typeof CSS | typeof JAVASCRIPT;
  body: Buffer;
}

/** The files of GET /docs and GET /docs/{asset}, read once at start-up. */
export class DocsSite {
  private constructor(
    readonly page: Buffer,
    private readonly assets: ReadonlyMap<string, PageAsset>,
  ) {}

  static async load(): Promise<DocsSite> {
    const read = (dir: string, name: string) => readFile(path.join(dir, name));
    const [page, css, bundle, initializer] = await Promise.all([
      read(HERE, 'index.html'),
      read(SWAGGER_UI, 'swagger-ui.css'),
      read(SWAGGER_UI, 'swagger-ui-bundle.js'),
      read(HERE, 'swagger-initializer.js'),
    ]);
    return new DocsSite(
      page,
      new Map([
        ['swagger-ui.css', { contentType: CSS, body: css }],
        ['swagger-ui-bundle.js', { contentType: JAVASCRIPT, body: bundle }],
        ['swagger-initializer.js', { contentType: JAVASCRIPT, body: initializer }],
      ]),
    );
  }

  asset(name: string): PageAsset | undefined {
    return this.assets.get(name);
  }
}
