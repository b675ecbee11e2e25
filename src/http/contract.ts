import { readFile } from 'node:fs/promises';
import type Ajv from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { OpenAPIBackend, type Operation } from 'openapi-backend';
import openApiSchemaValidator from 'openapi-schema-validator';
import { parse as parseYaml } from 'yaml';
import type { operations } from '../../generated/openapi';
import type { ErrorDetail } from '../domain/api';
import { AuditError, MethodNotAllowedError } from '../domain/errors';
import { projectPath } from '../projectPath';
import { parseInstant } from '../domain/instant';

export const SPEC_PATH = projectPath('api', 'openapi.yaml');

export type OperationId = keyof operations;

/** Everything the request pipeline needs to know about one operation, derived once from the spec. */
export interface Route {
  operationId: OperationId;
  method: string;
  path: string;
  /** Matches the request path; captures the template's parameters in order. */
  pattern: RegExp;
  paramNames: string[];
  /** Whether the operation needs the client id and bearer token (the spec's security requirement). */
  secured: boolean;
  requiredScope?: string;
  /** Query parameters declared as arrays: a single occurrence must still arrive as an array. */
  arrayQueryParams: Set<string>;
  acceptsJsonBody: boolean;
  /** Statuses whose documented body is a bare JSON string rather than an ErrorResponse. */
  stringBodyStatuses: Set<number>;
  validators: ValidateFunction[];
}

export interface RequestParts {
  params: Record<string, string>;
  query: Record<string, string | string[] | undefined>;
  headers: Record<string, unknown>;
  body?: unknown;
}

export interface ValidRequest {
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  body?: unknown;
}

// A CommonJS module with an ES default export, which Node's ESM loader wraps once more.
const OpenAPISchemaValidator =
  (openApiSchemaValidator as unknown as { default?: typeof openApiSchemaValidator }).default ?? openApiSchemaValidator;

const KNOWN_SECURITY_SCHEMES = new Set(['IMSClientId', 'ImsBearerToken']);

/**
 * The spec, compiled: the route table and the request validators. openapi-backend parses,
 * validates and dereferences the document and compiles the Ajv validators once, at start-up;
 * per request we only match a precompiled pattern and run the precompiled validators.
 */
export class Contract {
  private constructor(
    /** The spec file's text, exactly as read (served as GET /openapi.yaml). */
    readonly source: string,
    /** The parsed spec, never modified (served as GET /openapi.json). */
    readonly document: Record<string, unknown>,
    readonly routes: Route[],
  ) {}

  static async load(specPath = SPEC_PATH): Promise<Contract> {
    const source = await readFile(specPath, 'utf8');
    const document = parseYaml(source);
    // Strict mode's check that the document is valid OpenAPI, done here because quick mode skips it.
    const { errors } = new OpenAPISchemaValidator({ version: 3 }).validate(document);
    if (errors.length > 0) throw new Error(`${specPath} is not valid OpenAPI: ${JSON.stringify(errors, null, 2)}`);
    const backend = new OpenAPIBackend({
      definition: structuredClone(document),
      strict: true,
      validate: true,
      // Compile validators on demand, so only the request validators taken below are built:
      // the response validators would cost start-up time and memory and never run.
      quick: true,
      // useDefaults: the spec's parameter defaults (limit, format) are applied here, so they live in one place.
      ajvOpts: { allErrors: true, useDefaults: true },
      customizeAjv: customizeAjv,
    });
    await backend.init();
    const routes = backend.router.getOperations().map((operation) => toRoute(backend, operation));
    // Literal paths win over templates (/audits/export before /audits/{id}).
    routes.sort((a, b) => a.paramNames.length - b.paramNames.length);
    return new Contract(source, document, routes);
  }

  /**
   * The route for a request, or 404 (unknown path) / 405 (known path, other method). HEAD is
   * answered as GET, whose body Koa leaves out (RFC 9110, section 9.3.2).
   */
  match(method: string, path: string): { route: Route; params: Record<string, string> } {
    const wanted = method === 'HEAD' ? 'GET' : method;
    const allowed: string[] = [];
    for (const route of this.routes) {
      const found = route.pattern.exec(path);
      if (!found) continue;
      if (route.method !== wanted) {
        allowed.push(...(route.method === 'GET' ? ['GET', 'HEAD'] : [route.method]));
        continue;
      }
      const params: Record<string, string> = {};
      route.paramNames.forEach((name, i) => (params[name] = decodePathSegment(name, found[i + 1])));
      return { route, params };
    }
    if (allowed.length === 0) throw new AuditError('not_found', `no route for ${path}`);
    throw new MethodNotAllowedError(`${method} is not allowed on ${path}`, [...new Set(allowed)]);
  }

  /** Runs the operation's compiled validators; returns parameters coerced to their declared types. */
  validate(route: Route, parts: RequestParts): ValidRequest {
    const query: Record<string, unknown> = { ...parts.query };
    for (const name of route.arrayQueryParams) {
      if (typeof query[name] === 'string') query[name] = [query[name]];
    }
    // Shaped as openapi-backend's validators expect; Ajv coerces path and query values in place.
    const input: Record<string, unknown> = { path: { ...parts.params }, query, header: parts.headers };
    if (route.acceptsJsonBody) input.requestBody = parts.body;
    const problems: ErrorDetail[] = [];
    // The spec's text rule: PostgreSQL cannot compare or store NUL, so a filter holding one is refused.
    for (const [name, value] of Object.entries(query)) {
      if ([value].flat().some((item) => typeof item === 'string' && item.includes('\u0000'))) {
        problems.push({ path: `query.${name}`, message: 'must not contain NUL characters' });
      }
    }
    for (const validate of route.validators) {
      if (!validate(input)) problems.push(...describeErrors(validate.errors ?? []));
    }
    if (problems.length > 0) {
      const message = problems.map((p) => (p.path ? `${p.path} ${p.message}` : p.message)).join('; ');
      throw new AuditError('bad_request', message, problems);
    }
    return {
      params: input.path as Record<string, unknown>,
      query: input.query as Record<string, unknown>,
      body: parts.body,
    };
  }
}

function customizeAjv(ajv: Ajv): Ajv {
  addFormats(ajv, { mode: 'full', formats: ['date', 'time', 'uri', 'uuid'] });
  // Not ajv-formats' date-time: it accepts leap seconds and offsets like +0530, and no JavaScript
  // Date (so no stored instant) holds a leap second. This is the parser the store uses.
  ajv.addFormat('date-time', { type: 'string', validate: (value: string) => parseInstant(value) !== undefined });
  // OpenAPI 3.0 has no propertyNames; the spec writes it as an extension and Ajv enforces it.
  ajv.addKeyword({ keyword: 'x-propertyNames', macro: (schema: object) => ({ propertyNames: schema }) });
  return ajv;
}

function toRoute(backend: OpenAPIBackend, operation: Operation): Route {
  const operationId = operation.operationId as OperationId;
  const security = (operation.security ?? []) as Record<string, string[]>[];
  for (const requirement of security) {
    for (const scheme of Object.keys(requirement)) {
      if (!KNOWN_SECURITY_SCHEMES.has(scheme))
        throw new Error(`${operationId}: no verifier for security scheme ${scheme}`);
    }
  }
  const paramNames = [...operation.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
  const pattern = new RegExp(
    '^' +
      operation.path
        .split(/\{[^}]+\}/)
        .map(escapeRegExp)
        .join('([^/]+)') +
      '$',
  );
  const parameters = (operation.parameters ?? []) as { in: string; name: string; schema?: { type?: string } }[];
  const content = (operation.requestBody as { content?: Record<string, unknown> } | undefined)?.content ?? {};
  const stringBodyStatuses = new Set<number>();
  for (const [status, response] of Object.entries(operation.responses ?? {})) {
    const schema = (response as { content?: Record<string, { schema?: { type?: string } }> }).content?.[
      'application/json'
    ]?.schema;
    if (schema?.type === 'string') stringBodyStatuses.add(Number(status));
  }
  return {
    operationId,
    method: operation.method.toUpperCase(),
    path: operation.path,
    pattern,
    paramNames,
    secured: security.some((requirement) => Object.keys(requirement).length > 0),
    requiredScope: (operation as { 'x-required-scope'?: string })['x-required-scope'],
    arrayQueryParams: new Set(
      parameters.filter((p) => p.in === 'query' && p.schema?.type === 'array').map((p) => p.name),
    ),
    acceptsJsonBody: 'application/json' in content,
    stringBodyStatuses,
    validators: backend.validator.getRequestValidatorsForOperation(operationId) ?? [],
  };
}

/** Ajv's errors, named the way a client sees the request: `body.service.serviceId`, `query.limit`. */
export function describeErrors(errors: ErrorObject[]): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  for (const error of errors) {
    // The wrapper error of propertyNames repeats its inner error, which names the key.
    if (error.keyword === 'propertyNames' || error.keyword === 'x-propertyNames') continue;
    let path = clientPath(error.instancePath);
    let message = error.message ?? 'is invalid';
    const propertyName = (error as { propertyName?: string }).propertyName;
    switch (error.keyword) {
      case 'required':
        path = joinPath(path, error.params.missingProperty);
        message = 'is required';
        break;
      case 'additionalProperties':
        message = path === 'query' ? 'is not a known query parameter' : 'is not a known field';
        path = joinPath(path, error.params.additionalProperty);
        break;
      case 'format':
        if (error.params.format === 'date-time') {
          message =
            'must be an RFC 3339 date-time with a time zone that names a real instant, such as 2017-10-31T00:02:04.232Z';
        }
        break;
      case 'minLength':
        if (error.params.limit === 1) message = 'must not be empty';
        break;
    }
    if (propertyName !== undefined) message = `key "${propertyName}" ${message}`;
    details.push({ path, message });
  }
  return details;
}

function clientPath(instancePath: string): string {
  const [root, ...rest] = instancePath.split('/').slice(1);
  const base = root === 'requestBody' ? 'body' : root === 'header' ? 'header' : (root ?? 'body');
  return rest.reduce((path, segment) => joinPath(path, segment.replace(/~1/g, '/').replace(/~0/g, '~')), base);
}

function joinPath(path: string, segment: string): string {
  if (/^\d+$/.test(segment)) return `${path}[${segment}]`;
  return /^[A-Za-z_$][\w$]*$/.test(segment) ? `${path}.${segment}` : `${path}[${JSON.stringify(segment)}]`;
}

function decodePathSegment(name: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new AuditError('bad_request', `path parameter ${name} is not valid percent-encoding`);
  }
}

function escapeRegExp(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
