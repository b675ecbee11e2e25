// Lint: typescript-eslint's type-checked rules, and the layering (imports run downwards only):
// domain ← store ← http / auth / docs ← handlers ← app ← service ← main.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Migrations are frozen history: only their index (the migration source) imports them. Part of
// every rule below, since a file's no-restricted-imports is the last matching config's alone.
const FROZEN_MIGRATIONS = {
  regex: '^(\\./|(\\.\\./)+)(src/)?(store/)?migrations/2',
  message: 'Migrations are frozen history: runtime code never imports them (only migrations/index.ts does).',
};

/** A rule that forbids importing the named top-level modules or folders of src/ from one folder of it. */
const layer = (files, forbidden, why, ignores = []) => ({
  files,
  ignores,
  rules: {
    'no-restricted-imports': [
      'error',
      { patterns: [{ regex: `^\\.\\./(${forbidden.join('|')})(/|$)`, message: why }, FROZEN_MIGRATIONS] },
    ],
  },
});
const ABOVE_STORE = [
  'http',
  'handlers',
  'auth',
  'docs',
  'app',
  'service',
  'main',
  'errors',
  'metrics',
  'logger',
  'client',
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'src/client/dist/',
      'generated/',
      'test-artifacts/',
      'bench/results/',
      '**/*.cjs',
      'src/docs/*.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Handlers and store methods are async to fit their Promise-returning interfaces, awaited or not.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['**/*.ts'],
    ignores: ['src/store/migrations/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [FROZEN_MIGRATIONS] }] },
  },
  {
    files: ['src/domain/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^\\.\\./(?!\\.\\./generated/)',
              message: 'src/domain imports nothing of ours but the generated types.',
            },
            FROZEN_MIGRATIONS,
          ],
        },
      ],
    },
  },
  {
    // The client package is installed by other teams on its own: it may use its own files, the
    // generated contract types, openapi-fetch and noble's SHA-256 and Ed25519 (for verifying, in
    // browsers too), nothing of the server and no Node built-in.
    files: ['src/client/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./|\\.\\./\\.\\./generated/|openapi-fetch$|@noble/(hashes|curves)/)',
              message:
                'src/client imports only its own files, ../../generated/, openapi-fetch and @noble/hashes and @noble/curves.',
            },
          ],
        },
      ],
    },
  },
  {
    // The viewer (GET /) is browser code, a client of the service like any other: it may use its
    // own files, the client package and Preact, nothing of the server and no Node built-in.
    files: ['src/viewer/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./|\\.\\./client/|preact(/hooks)?$)',
              message: 'src/viewer imports only its own files, the client package (../client/) and preact.',
            },
          ],
        },
      ],
    },
  },
  {
    // The offline verifier checks the server with the client package alone, as any outsider can.
    files: ['scripts/verifyOffline.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!node:|\\.\\./src/client/)',
              message: 'scripts/verifyOffline.ts imports only the client package and Node built-ins.',
            },
            FROZEN_MIGRATIONS,
          ],
        },
      ],
    },
  },
  layer(['src/store/**'], ABOVE_STORE, 'src/store may use src/domain and config only.', ['src/store/migrations/**']),
  layer(
    ['src/auth/**', 'src/docs/**'],
    [...ABOVE_STORE, 'store'],
    'auth and docs sit beside http: domain and config only.',
  ),
  layer(
    ['src/http/**'],
    ['handlers', 'app', 'service', 'main', 'errors'],
    'src/http must not import a layer above it.',
  ),
  layer(['src/handlers/**'], ['app', 'service', 'main', 'errors'], 'handlers must not import a layer above them.'),
  {
    // The token minter is for the token CLI, the contract test, the benchmarks and the tests. A rule
    // of its own name, so that it adds to the layering rules above rather than replacing them.
    // The one exception is dev mode's sign-in (src/auth/devSignIn.ts, POST /dev/token).
    files: ['src/**'],
    ignores: ['src/auth/mintToken.ts', 'src/auth/devSignIn.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)mintToken$',
              message: 'The service verifies tokens; it mints them only in dev mode, in src/auth/devSignIn.ts.',
            },
          ],
        },
      ],
    },
  },
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
);
