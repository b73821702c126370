/**
 * The codebase's shape, checked: no function in functions/ or lib/ longer than 60 lines (a
 * function that is nothing but a declarative table says so with a `// declarative table`
 * comment on the line above it), and the domain imports only itself and the contract's plain
 * names (no AWS SDK, no process.env, no handler or adapter).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as ts from 'typescript';

const ROOT = join(__dirname, '..', '..');
const MAX_LINES = 60;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

function longFunctions(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const lines = text.split('\n');
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const declarative = /\/\/ declarative table/.test(lines[start - 1] ?? '');
      if (end - start + 1 > MAX_LINES && !declarative) found.push(`${relative(ROOT, file)}:${start + 1} (${end - start + 1} lines)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test(`no function in functions/ or lib/ is longer than ${MAX_LINES} lines`, () => {
  // Act
  const files = [...sourceFiles(join(ROOT, 'functions')), ...sourceFiles(join(ROOT, 'lib'))];
  const long = files.flatMap(longFunctions);

  // Assess
  expect(files.length).toBeGreaterThan(40);
  expect(long).toEqual([]);
});

test('the domain imports only itself: no SDK, no adapters or handlers, no process.env', () => {
  // Act
  const offending = sourceFiles(join(ROOT, 'functions', 'domain')).flatMap((file) => {
    const text = readFileSync(file, 'utf8');
    const imports = [...text.matchAll(/from '([^']+)'/g)].map((match) => match[1]);
    const outside = imports.filter((path) => !path.startsWith('./') && !path.startsWith('node:') && path !== '../contract');
    return [
      ...outside.map((path) => `${relative(ROOT, file)} imports ${path}`),
      ...(/process\.env/.test(text) ? [`${relative(ROOT, file)} reads process.env`] : []),
    ];
  });

  // Assess
  expect(offending).toEqual([]);
});
