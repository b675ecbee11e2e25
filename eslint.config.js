// Lint: typescript-eslint's type-checked rules, and the layering (imports run downwards only):
// domain ← store ← http / auth / docs ← handlers ← app ← service ← main.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** A rule that forbids importing the named top-level modules or folders of src/ from one folder of it. */
const layer = (files, forbidden, why) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      { patterns: [{ regex: `^\\.\\./(${forbidden.join('|')})(/|$)`, message: why }] },
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
          ],
        },
      ],
    },
  },
  {
    // The client package is installed by other teams on its own: it may use its own files, the
    // generated contract types and openapi-fetch, nothing of the server and no Node built-in.
    files: ['src/client/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./|\\.\\./\\.\\./generated/|openapi-fetch$)',
              message: 'src/client imports only its own files, ../../generated/ and openapi-fetch.',
            },
          ],
        },
      ],
    },
  },
  layer(['src/store/**'], ABOVE_STORE, 'src/store may use src/domain and config only.'),
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
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
);
