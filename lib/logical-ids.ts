import { createHash } from 'node:crypto';

/**
 * The logical id CDK gives a CloudFormation element from its construct path below the stack
 * (the algorithm of Stack.allocateLogicalId, which CDK keeps stable across versions because
 * every deployed stack depends on it): the path's ids joined, plus a hash of the path; ids named
 * 'Default' are left out altogether, ids named 'Resource' from the readable part only.
 */
export function logicalIdOfPath(path: readonly string[]): string {
  const components = path.filter((id) => id !== 'Default');
  if (components.length === 0) {
    throw new Error('A logical id needs at least one path component other than Default');
  }
  if (components.length === 1) {
    const candidate = alphanumeric(components[0]);
    if (candidate.length <= 255) return candidate;
  }
  const hash = createHash('md5').update(components.join('/')).digest('hex').slice(0, 8).toUpperCase();
  const readable = withoutRepeats(components)
    .filter((id) => id !== 'Resource')
    .map(alphanumeric)
    .join('')
    .slice(0, 240);
  return readable + hash;
}

function alphanumeric(id: string): string {
  return id.replace(/[^A-Za-z0-9]/g, '');
}

/** Drops an id its predecessor ends with ('Api' under 'HttpApi'), as CDK does. */
function withoutRepeats(path: readonly string[]): string[] {
  const kept: string[] = [];
  for (const id of path) {
    if (kept.length === 0 || !kept[kept.length - 1].endsWith(id)) kept.push(id);
  }
  return kept;
}
