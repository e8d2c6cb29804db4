import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

// The operator's layers, bottom to top (docs/architecture.md): a folder may import from its own
// layer's folders and the layers below, never from a layer above or a sibling feature.
const SRC = 'operator/src';
const BOTTOM = ['api', 'ticdc', 'kube', 'observability'].map((d) => `${SRC}/${d}`);
const TOP = [`${SRC}/cli`, `${SRC}/cli.ts`, `${SRC}/main.ts`, `${SRC}/manager.ts`, `${SRC}/config.ts`];
const FEATURES = ['drain', 'rollout', 'cordon', 'gate', 'webhook'].map((d) => `${SRC}/${d}`);
const zone = (target, from, message) => ({ target, from, message });
const layering = [
  ...BOTTOM.map((t) =>
    zone(t, [...FEATURES, ...TOP], 'api, ticdc, kube and observability import no feature folder'),
  ),
  // Within the bottom layer: observability and ticdc stand alone, kube uses observability, api uses kube's types.
  zone(
    `${SRC}/observability`,
    [`${SRC}/api`, `${SRC}/kube`, `${SRC}/ticdc`],
    'observability imports nothing of ours',
  ),
  zone(
    `${SRC}/ticdc`,
    [`${SRC}/api`, `${SRC}/kube`, `${SRC}/observability`],
    'the TiCDC client stands alone',
  ),
  zone(`${SRC}/kube`, [`${SRC}/api`, `${SRC}/ticdc`], 'the controller runtime knows no CaptureDrain'),
  zone(
    `${SRC}/drain`,
    [...FEATURES.filter((f) => !f.endsWith('/drain')), ...TOP],
    'drain sits below rollout, cordon, gate',
  ),
  zone(
    `${SRC}/rollout`,
    [`${SRC}/cordon`, `${SRC}/gate`, `${SRC}/webhook`, ...TOP],
    'rollout imports only drain and below',
  ),
  zone(
    `${SRC}/cordon`,
    [`${SRC}/rollout`, `${SRC}/gate`, `${SRC}/webhook`, ...TOP],
    'cordon imports only drain and below',
  ),
  zone(`${SRC}/gate`, [`${SRC}/rollout`, `${SRC}/cordon`, ...TOP], 'gate imports drain, webhook and below'),
  zone(
    `${SRC}/webhook`,
    [`${SRC}/drain`, `${SRC}/rollout`, `${SRC}/cordon`, `${SRC}/gate`, ...TOP],
    'webhook is the gate runtime: it imports no feature',
  ),
  // The image runs operator/src only: nothing there may load the simulator or the test harness.
  zone(SRC, ['e2e', 'bench', 'operator/test'], 'the operator does not import e2e, bench or test code'),
  // The chaos suite sits on top: it uses the harness, the simulator and the operator; nothing uses it.
  zone(['operator', 'e2e', 'bench'], ['chaos'], 'nothing imports the chaos suite'),
];

// Pure decision modules: values only from api, the drain's pure modules and kube's pure helpers;
// anything else (clients, controllers, metrics, loggers) at most as `import type`.
const PURE = [
  `${SRC}/drain/machine.ts`,
  `${SRC}/drain/contract.ts`,
  `${SRC}/drain/slot.ts`,
  `${SRC}/drain/tenancy.ts`,
  `${SRC}/rollout/planner.ts`,
  `${SRC}/cordon/decide.ts`,
  `${SRC}/gate/decide.ts`,
];
const PURE_ALLOWED =
  '^(?!(node:crypto|\\.\\./api/.*|(\\./|\\.\\./drain/)(address|conditions|contract|slot)\\.js|\\.\\./kube/(objects|conditions|time)\\.js|\\.\\./ticdc/liveness\\.js)$)';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'e2e/controlplane/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-duplicates': 'error',
      'import-x/no-restricted-paths': ['error', { zones: layering }],
    },
  },
  {
    files: PURE,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: PURE_ALLOWED,
              allowTypeImports: true,
              message:
                'a pure decision module imports values only from api and pure helpers (types are fine)',
            },
          ],
        },
      ],
    },
  },
);
