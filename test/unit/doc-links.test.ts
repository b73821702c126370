/**
 * Every relative link and anchor in README.md, docs/*.md and the client's README resolves: the
 * file exists, and an anchor is a heading's GitHub slug in the file it points into.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { anchorsOf, brokenLinks, githubSlug } from '../support/doc-links';

const ROOT = join(__dirname, '..', '..');

const markdownFiles = () => [
  'README.md',
  'client/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

test('every relative link and anchor in README.md, docs/*.md and client/README.md resolves', () => {
  // Act
  const problems = brokenLinks(ROOT, markdownFiles());

  // Assess
  expect(problems).toEqual([]);
});

test('headings get the anchors GitHub gives them', () => {
  // Act / Assess
  expect(githubSlug('The callback contract')).toBe('the-callback-contract');
  expect(githubSlug('`GET /users`: one page')).toBe('get-users-one-page');
  expect(githubSlug('Scale & refresh policies (adaptive)')).toBe('scale--refresh-policies-adaptive');
  expect(githubSlug('Zoom deauthorization — `app_deauthorized`')).toBe('zoom-deauthorization--app_deauthorized');
  expect([...anchorsOf('# A\n## Errors\n```\n# not a heading\n```\n### Errors\n')]).toEqual(['a', 'errors', 'errors-1']);
});

describe('the check fails on what GitHub would not resolve', () => {
  let root: string;
  beforeAll(() => {
    // Prepare: a page linking to a missing file, a missing anchor, and good targets
    root = mkdtempSync(join(tmpdir(), 'doc-links-'));
    mkdirSync(join(root, 'docs'));
    writeFileSync(join(root, 'docs', 'a.md'), '# A page\n\n## Errors and limits\n');
    writeFileSync(
      join(root, 'README.md'),
      [
        '# Readme',
        'Good: [a](docs/a.md), [errors](docs/a.md#errors-and-limits), [top](#readme), [site](https://example.com/x#y).',
        'Missing file: [b](docs/b.md). Missing anchor: [errors](docs/a.md#errors).',
        'In code, not a link: `[x](docs/nowhere.md)`.',
        '```',
        '[y](docs/nowhere-either.md)',
        '```',
      ].join('\n'),
    );
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test('a missing file and a missing anchor are reported; code and external links are not', () => {
    // Act
    const problems = brokenLinks(root, ['README.md', 'docs/a.md']);

    // Assess
    expect(problems).toEqual([
      'README.md:3: docs/b.md: no such file (docs/b.md)',
      'README.md:3: docs/a.md#errors: docs/a.md has no heading whose anchor is #errors',
    ]);
  });
});
