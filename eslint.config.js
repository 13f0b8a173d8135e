// Lint: typescript-eslint's recommended rules plus the architecture's import
// boundaries (STYLE.md "The shape of the house"):
//  - edge/ never imports the Kubernetes client, controllers/, webhooks/ or cloud/;
//  - cloud/hub imports edge/protocol/ and nothing else from edge/;
//  - api/ imports nothing of ours.
import tseslint from 'typescript-eslint';

const k8sClient = { group: ['@kubernetes/client-node', '@kubernetes/client-node/*'], message: 'edge/ must not talk to the Kubernetes API; go through the hub (edge/protocol).' };
const cloudSide = { group: ['**/controllers/**', '**/webhooks/**', '**/cloud/**', '**/cli/**'], message: 'edge/ must not import cloud-side code.' };

export default tseslint.config(
  { ignores: ['node_modules/**', 'hack/control-plane/**', '.outpost/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-throw-literal': 'error',
    },
  },
  {
    files: ['edge/**/*.ts'],
    // integration tests drive both sides (a real cloud against a real agent); product code may not
    ignores: ['edge/**/*.int.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [k8sClient, cloudSide] }] },
  },
  {
    files: ['cloud/hub/**/*.ts'],
    ignores: ['cloud/hub/**/*.test.ts'],
    rules: {
      // edge/transport is the shared transport port (both sides dial/listen through it)
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/edge/*', '!**/edge/protocol', '!**/edge/transport', '**/edge/!(protocol|transport)/**'], message: 'The hub may import only edge/protocol and edge/transport from edge/.' }] }],
    },
  },
  {
    files: ['api/**/*.ts'],
    ignores: ['api/**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../*', '../../*'], message: 'api/ depends on nothing of ours.' }] }] },
  },
);
