import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'scratch/', '.demo/', 'bench/.data/', 'cdk.out/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // The core (shared/ outside adapters/) is pure: an SDK or a native engine is reached through a
    // port (ObjectStore, SqlEngine, RemoteEngine) that an adapter implements.
    files: ['shared/**/*.ts'],
    ignores: ['shared/adapters/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@aws-sdk/*', '@duckdb/*', '@aws-lambda-powertools/*', '@middy/*'], message: 'The core imports no SDK or native engine: put the code in shared/adapters/.' },
            { group: ['**/adapters/*'], message: 'The core does not depend on adapters: take a port (an interface) instead.' },
          ],
        },
      ],
    },
  },
);
