import { readFile } from 'node:fs/promises';
import type Ajv from 'ajv';
import type { ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import { OpenAPIBackend, type Document, type Operation, type ValidationResult } from 'openapi-backend';
import openApiSchemaValidator from 'openapi-schema-validator';
import { parse as parseYaml } from 'yaml';
import type { operations } from '../../generated/openapi';
import { AuditError } from '../domain/errors';
import { projectPath } from '../projectPath';
import { parseInstant } from '../domain/instant';
import { checkStorableText, countValues, joinPath, ProblemList } from './problems';

export const SPEC_PATH = projectPath('api', 'openapi.yaml');

export type OperationId = keyof operations;

/** Everything the request pipeline needs to know about one operation, derived once from the spec. */
export interface Route {
  operationId: OperationId;
  method: string;
  /** The spec's path template, `/audits/{id}`. */
  path: string;
  /** The same template as @koa/router writes it, `/audits/:id`. */
  routerPath: string;
  /** Whether the operation needs the client id and bearer token (the spec's security requirement). */
  secured: boolean;
  requiredScope?: string;
  /** `x-dev-only: true`: mounted only in dev mode (no AUTH_* variable set); elsewhere the path does not exist. */
  devOnly: boolean;
  /**
   * Operations that declare no query parameters and document no 400 (the probes, metrics, the
   * spec and the docs) ignore any query, such as a cache-buster; the others refuse parameters
   * they do not declare.
   */
  ignoresQuery: boolean;
  acceptsJsonBody: boolean;
  /** Whether there is anything to validate: parameters, a query that is not ignored, or a body. */
  hasInput: boolean;
  /** Statuses whose documented body is a bare JSON string rather than an ErrorResponse. */
  stringBodyStatuses: Set<number>;
  operation: Operation;
}

export interface RequestParts {
  /** The request path as sent (percent-encoded); path parameters are taken from it. */
  path: string;
  /** The body as sent, when it was read: the text rule looks at the parsed body only if needed. */
  bodyText?: string;
  query: Record<string, string | string[] | undefined>;
  headers: Record<string, string | string[] | undefined>;
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
 * An invalid body with more values than this is reported with its first error only. Ajv with allErrors reports several errors per value (seven for an empty event) and
 * openapi-backend gathers them with one spread call, so a 1 MiB body of `{}` items would cost a
 * second of CPU and overflow the stack. A full batch of 1000 typical events holds about 12,000.
 */
const MAX_VALUES_FOR_EVERY_ERROR = 20_000;

const UNSTORABLE_ESCAPE = /\\u(0000|d[89a-f])/i;

/**
 * The spec, compiled: the routes and the request validators. openapi-backend parses, validates
 * and dereferences the document and compiles the Ajv validators once, at start-up; per request we
 * call its documented `validateRequest` with a request in its documented shape.
 */
export class Contract {
  private constructor(
    /** The spec file's text, exactly as read (served as GET /openapi.yaml). */
    readonly source: string,
    /** The parsed spec, never modified (served as GET /openapi.json). */
    readonly document: Record<string, unknown>,
    readonly routes: Route[],
    /** Reports every error (allErrors). */
    private readonly everyError: OpenAPIBackend,
    /** Stops at the first error: for bodies too large to list every error of cheaply. */
    private readonly firstError: OpenAPIBackend,
  ) {}

  static async load(specPath = SPEC_PATH): Promise<Contract> {
    const source = await readFile(specPath, 'utf8');
    const document = parseYaml(source) as Record<string, unknown>;
    // Strict mode's check that the document is valid OpenAPI, done here because quick mode skips it.
    const { errors } = new OpenAPISchemaValidator({ version: 3 }).validate(document as unknown as Document);
    if (errors.length > 0) throw new Error(`${specPath} is not valid OpenAPI: ${JSON.stringify(errors, null, 2)}`);
    const backend = (allErrors: boolean) =>
      new OpenAPIBackend({
        definition: structuredClone(document) as unknown as Document,
        strict: true,
        validate: true,
        // Compile validators on demand, so only the request validators are built: the response
        // validators would cost start-up time and memory and never run.
        quick: true,
        coerceTypes: true,
        // useDefaults: the spec's parameter defaults (limit, format) are applied here, so they live in one place.
        ajvOpts: { allErrors, useDefaults: true },
        customizeAjv,
      });
    const everyError = backend(true);
    const firstError = backend(false);
    await Promise.all([everyError.init(), firstError.init()]);
    const routes = everyError.router.getOperations().map(toRoute);
    for (const { operationId } of routes) {
      // Compiled now rather than on a first request.
      everyError.validator.getRequestValidatorsForOperation(operationId);
      firstError.validator.getRequestValidatorsForOperation(operationId);
    }
    return new Contract(source, document, routes, everyError, firstError);
  }

  /**
   * Validates the request against its operation, together with the spec's text rules; returns
   * path and query parameters coerced to their declared types, with the spec's defaults. Every
   * problem found is reported in one 400, up to a bound (see ProblemList).
   */
  validate(route: Route, parts: RequestParts): ValidRequest {
    if (!route.hasInput) return { params: {}, query: {} };
    const problems = new ProblemList();
    const query = route.ignoresQuery ? {} : parts.query;
    for (const [name, value] of Object.entries(query)) {
      for (const item of [value].flat()) if (item !== undefined) checkStorableText(item, `query.${name}`, problems);
    }
    // In valid UTF-8 JSON a NUL or a lone surrogate can only be written as an escape.
    if (route.acceptsJsonBody && UNSTORABLE_ESCAPE.test(parts.bodyText ?? '')) {
      checkStorableText(parts.body, 'body', problems);
    }
    const request = {
      method: route.method,
      path: parts.path,
      headers: parts.headers as Record<string, string | string[]>,
      query: query as Record<string, string | string[]>,
      ...(route.acceptsJsonBody && { body: parts.body as object }),
    };
    // A valid request (the usual case) is validated once; stopping at the first error costs nothing then.
    let result: ValidationResult = this.firstError.validator.validateRequest(request, route.operation);
    if (!result.valid) {
      const values = route.acceptsJsonBody ? countValues(parts.body) : 0;
      let every: ValidationResult | undefined;
      if (values <= MAX_VALUES_FOR_EVERY_ERROR) {
        try {
          every = this.everyError.validator.validateRequest(request, route.operation);
        } catch (error) {
          // Too many errors for openapi-backend's spread call: the stack overflowed. Keep the first.
          if (!(error instanceof RangeError)) throw error;
        }
      }
      result = every ?? result;
      describeErrors(result.errors ?? [], problems);
      if (every === undefined) {
        problems.add('body', `has too many problems to look for every one (${values} values); fix this and retry`);
      }
    }
    if (!problems.empty) throw new AuditError('bad_request', problems.message(), problems.details());
    const coerced = result.coerced as { params?: Record<string, unknown>; query?: Record<string, unknown> };
    return { params: coerced.params ?? {}, query: coerced.query ?? {}, body: parts.body };
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

function toRoute(operation: Operation): Route {
  const operationId = operation.operationId as OperationId;
  const security = (operation.security ?? []) as Record<string, string[]>[];
  for (const requirement of security) {
    for (const scheme of Object.keys(requirement)) {
      if (!KNOWN_SECURITY_SCHEMES.has(scheme))
        throw new Error(`${operationId}: no verifier for security scheme ${scheme}`);
    }
  }
  const parameters = (operation.parameters ?? []) as { in: string }[];
  const content = (operation.requestBody as { content?: Record<string, unknown> } | undefined)?.content ?? {};
  const ignoresQuery = !parameters.some((p) => p.in === 'query') && !('400' in (operation.responses ?? {}));
  const acceptsJsonBody = 'application/json' in content;
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
    routerPath: operation.path.replace(/\{([^}]+)\}/g, ':$1'),
    secured: security.some((requirement) => Object.keys(requirement).length > 0),
    requiredScope: (operation as { 'x-required-scope'?: string })['x-required-scope'],
    devOnly: (operation as { 'x-dev-only'?: boolean })['x-dev-only'] === true,
    ignoresQuery,
    acceptsJsonBody,
    hasInput: parameters.length > 0 || !ignoresQuery || acceptsJsonBody,
    stringBodyStatuses,
    operation,
  };
}

/** Ajv's errors, named the way a client sees the request: `body.service.serviceId`, `query.limit`. */
export function describeErrors(errors: ErrorObject[], problems: ProblemList): void {
  for (const error of errors) {
    // The wrapper error of propertyNames repeats its inner error, which names the key.
    if (error.keyword === 'propertyNames' || error.keyword === 'x-propertyNames') continue;
    // openapi-backend's JSON check of a body that is a string; we parsed the body already.
    if (error.keyword === 'parse' && error.instancePath === '') continue;
    if (problems.full) {
      problems.count();
      continue;
    }
    let path = clientPath(error.instancePath);
    let message = error.message ?? 'is invalid';
    const propertyName = (error as { propertyName?: string }).propertyName;
    switch (error.keyword) {
      case 'required':
        path = joinPath(path, (error.params as { missingProperty: string }).missingProperty);
        message = 'is required';
        break;
      case 'additionalProperties':
        message = path === 'query' ? 'is not a known query parameter' : 'is not a known field';
        path = joinPath(path, (error.params as { additionalProperty: string }).additionalProperty);
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
    problems.add(path, message);
  }
}

function clientPath(instancePath: string): string {
  const [root, ...rest] = instancePath.split('/').slice(1);
  const base = root === 'requestBody' ? 'body' : root === 'header' ? 'header' : (root ?? 'body');
  return rest.reduce((path, segment) => joinPath(path, segment.replace(/~1/g, '/').replace(/~0/g, '~')), base);
}
