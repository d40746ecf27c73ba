// ESLint: the TypeScript with type information (typescript-eslint's project service reads
// tsconfig.json), the Node scripts and the browser pages' JavaScript without it.
// Formatting is Prettier's alone: eslint-config-prettier, last, turns off every rule that would
// argue with it.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['dist/', 'node_modules/', 'models/', 'refer/', 'artifacts/', 'state/'],
  },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.strictTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Not in the preset: a switch over a union that misses a member is a fault when the union grows.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // Not in the preset: an import used only for types says so, and is erased from the JavaScript.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // node:test's test() and describe() return promises that the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      // A number in a message is the normal case; objects, arrays, null and undefined stay errors.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // The same for `+`: the MQTT encoder builds its JSON by concatenation, numbers included.
      '@typescript-eslint/restrict-plus-operands': ['error', { allowNumberAndString: true }],
      // As tsc's noUnusedLocals: a leading _ names what is left unused on purpose (a rest sibling
      // that drops pid and hostname from a record, a callback's unused parameter).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Off: what it finds here are checks against values whose static type is narrower than what
      // arrives: signal.aborted read again after an await (narrowed to false by the loop's own
      // condition), JSON parsed from files and typed as the shape expected, a CLI value typed as
      // the union it is being checked against, a child's stdout that is null when spawn failed.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // Off: tsconfig has noUncheckedIndexedAccess, so an index into a typed array or tuple is
      // `T | undefined`, and `a[i]!` is how a loop over preallocated buffers says the index is in
      // range without a per-step check. no-unnecessary-type-assertion still flags a `!` on a value
      // the compiler already knows is defined.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Off: `(x) => void f(x)` and `() => done()` as callbacks are the house idiom; the type of
      // the callback already says its result is not used.
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // Off: an async method that does not await implements a Promise-returning interface (a
      // source's waitForSpace, a fake's align); dropping `async` would turn its throw into a
      // synchronous exception instead of a rejection.
      '@typescript-eslint/require-await': 'off',
      // Off: the deletes are on string-keyed records (environments, parsed JSON), where delete is
      // the operation meant.
      '@typescript-eslint/no-dynamic-delete': 'off',
      // Off: `parse<T>(text): T` helpers that state what a test expects a JSON document to be use
      // the type parameter once by design.
      '@typescript-eslint/no-unnecessary-type-parameters': 'off',
    },
  },
  {
    files: ['scripts/**/*.mjs', 'examples/**/*.mjs', 'eslint.config.js'],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['web/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
  {
    // The report page inlines uPlot's bundle before its own script.
    files: ['web/report/report.js'],
    languageOptions: { globals: { uPlot: 'readonly' } },
  },
  prettier,
);
