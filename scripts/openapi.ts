/**
 * `npm run openapi`: writes openapi/admin-api.json from the handlers' schemas
 * (scripts/openapi-document.ts). `--check`: exits 1 if the committed file differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderAdminOpenApi } from './openapi-document';

const target = join(__dirname, '..', 'openapi', 'admin-api.json');
const generated = renderAdminOpenApi();
if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(target, 'utf8');
  } catch {
    // missing: differs
  }
  if (committed !== generated) {
    console.error(`${target} is out of date: run npm run openapi`);
    process.exitCode = 1;
  }
} else {
  writeFileSync(target, generated);
  console.log(`wrote ${target}`);
}
