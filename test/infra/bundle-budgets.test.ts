/**
 * Every Lambda bundle within its byte budget, and none holding what its function never runs
 * (docs/performance.md). The bundles are the one build's (scripts/build-handlers.ts): the bytes
 * each function deploys, in both variants.
 *
 * A budget is the bundle's size when it was set plus about 1%, rounded up to a KiB. A change that
 * grows a bundle past it fails here: raising a budget is then a decision made in the open (its
 * commit says what grew and why), never a side effect of a feature. The two public token routes'
 * budgets also hold the 3.9 KB that Recall's request-signature check (issue 22, built in
 * parallel) adds to each.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_VARIANTS, type BundleVariant } from '../../functions/contract';
import { ensureHandlerBundles, handlerEntries } from '../../scripts/build-handlers';

const KIB = 1024;

/** Budgets in KiB, per function and variant (plain: no Tracer; traced: with it and the X-Ray SDK). */
const BUDGET_KIB: Record<string, Record<BundleVariant, number>> = {
  admin: { plain: 562, traced: 708 },
  'bot-token': { plain: 486, traced: 631 },
  callback: { plain: 479, traced: 624 },
  dispatcher: { plain: 429, traced: 574 },
  'recall-health': { plain: 445, traced: 589 },
  'refresh-worker': { plain: 486, traced: 631 },
  'zoom-events': { plain: 447, traced: 592 },
};

type Sizes = Record<string, Partial<Record<BundleVariant, number>>>;

/** Each bundle over its budget, or without one, described; [] when all fit. */
function budgetViolations(sizes: Sizes, budgets: typeof BUDGET_KIB): string[] {
  return Object.entries(sizes).flatMap(([entry, byVariant]) =>
    Object.entries(byVariant).flatMap(([variant, bytes]) => {
      const budget = budgets[entry]?.[variant as BundleVariant];
      if (budget === undefined) return [`${entry} (${variant}): ${bytes} bytes and no budget`];
      return bytes! > budget * KIB
        ? [`${entry} (${variant}): ${bytes} bytes, over its budget of ${budget} KiB by ${bytes! - budget * KIB}`]
        : [];
    }),
  );
}

const VARIANTS = Object.keys(BUNDLE_VARIANTS) as BundleVariant[];

describe('bundle budgets', () => {
  const root = ensureHandlerBundles();
  const sizes: Sizes = Object.fromEntries(
    handlerEntries().map((entry) => [
      entry,
      Object.fromEntries(VARIANTS.map((variant) => [variant, statSync(join(root, variant, entry, 'index.mjs')).size])),
    ]),
  );

  it('every bundle of the one build is within its budget', () => {
    // Act
    const violations = budgetViolations(sizes, BUDGET_KIB);

    // Assess
    expect(violations).toEqual([]);
  });

  it('every function has a budget, and every budget is a function', () => {
    // Assess
    expect(Object.keys(BUDGET_KIB).sort()).toEqual(handlerEntries());
  });

  it('a bundle a byte over its budget fails the check, one at its budget passes, one without a budget fails', () => {
    // Prepare: the callback's real size, and budgets just below and at it
    const bytes = sizes.callback.plain!;
    const atBudget = { ...BUDGET_KIB, callback: { plain: bytes / KIB, traced: BUDGET_KIB.callback.traced } };
    const underIt = { ...BUDGET_KIB, callback: { plain: (bytes - 1) / KIB, traced: BUDGET_KIB.callback.traced } };

    // Act
    const fits = budgetViolations({ callback: { plain: bytes } }, atBudget);
    const over = budgetViolations({ callback: { plain: bytes } }, underIt);
    const unbudgeted = budgetViolations({ 'new-function': { plain: 1 } }, BUDGET_KIB);

    // Assess
    expect(fits).toEqual([]);
    expect(over).toEqual([`callback (plain): ${bytes} bytes, over its budget of ${(bytes - 1) / KIB} KiB by 1`]);
    expect(unbudgeted).toEqual(['new-function (plain): 1 bytes and no budget']);
  });
});

/** The files a bundle holds code of: its source map's sources (a file tree-shaken to nothing is not among them). */
function sourcesOf(root: string, variant: BundleVariant, entry: string): string[] {
  return JSON.parse(readFileSync(join(root, variant, entry, 'index.mjs.map'), 'utf8')).sources;
}

/** What no bundle of some functions may hold (a package or a project file), and why. */
const NEVER: Array<{ rule: string; entries: string[]; variants: BundleVariant[]; holds: string[] }> = [
  {
    rule: 'no bundle without the Tracer holds a middleware engine: handlers are wrapped by a plain function',
    entries: handlerEntries(),
    variants: ['plain'],
    holds: ['/@middy/'],
  },
  {
    rule: 'no bundle holds Powertools Parameters: secrets are read by the SDK client and cached',
    entries: handlerEntries(),
    variants: VARIANTS,
    holds: ['/@aws-lambda-powertools/parameters/'],
  },
  {
    rule: 'only the admin API validates bodies with a schema library',
    entries: handlerEntries().filter((entry) => entry !== 'admin'),
    variants: VARIANTS,
    holds: ['/zod/'],
  },
  {
    rule: 'the dispatcher reads no secret and opens no token',
    entries: ['dispatcher'],
    variants: VARIANTS,
    holds: ['/@aws-sdk/client-secrets-manager/', '/@aws-sdk/client-kms/'],
  },
  {
    rule: 'the public token routes read and open tokens: they write nothing, publish nothing, call neither Recall nor Zoom OAuth',
    entries: ['callback', 'bot-token'],
    variants: VARIANTS,
    holds: [
      'functions/adapters/dynamo-token-store.ts',
      'functions/adapters/kms-envelope-cipher.ts',
      '/@aws-sdk/client-eventbridge/',
      'functions/adapters/recall-client.ts',
      'functions/adapters/zoom-client.ts',
    ],
  },
];

describe('what a bundle never holds', () => {
  const root = ensureHandlerBundles();

  it.each(NEVER.map((never) => [never.rule, never] as const))('%s', (_rule, never) => {
    // Act: every file of those bundles that is one of the forbidden
    const found = never.entries.flatMap((entry) =>
      never.variants.flatMap((variant) =>
        sourcesOf(root, variant, entry)
          .filter((source) => never.holds.some((forbidden) => source.includes(forbidden)))
          .map((source) => `${entry} (${variant}): ${source.replace(/^.*node_modules\//, '')}`),
      ),
    );

    // Assess
    expect(found).toEqual([]);
  });

  it('the rules see what they look for: the admin bundle holds zod and the store, the callback its reader and Secrets Manager', () => {
    // Act
    const admin = sourcesOf(root, 'plain', 'admin');
    const callback = sourcesOf(root, 'plain', 'callback');

    // Assess
    expect(admin.some((source) => source.includes('/zod/'))).toBe(true);
    expect(admin.some((source) => source.includes('functions/adapters/dynamo-token-store.ts'))).toBe(true);
    expect(callback.some((source) => source.includes('functions/adapters/dynamo-token-reader.ts'))).toBe(true);
    expect(callback.some((source) => source.includes('/@aws-sdk/client-secrets-manager/'))).toBe(true);
  });
});
