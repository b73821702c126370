/**
 * Covers the one gap of @cloud-copilot/iam-simulate the harness meets: a condition on
 * `kms:EncryptionContext:<key>` never matches there (the simulator drops request context keys
 * not in the action's key list, and matches variable keys only when they use `/`; see
 * /work/shared/reference/iam-evaluation.md). So before a KMS request is simulated, each such
 * condition is decided here against the context the code actually sent: a condition that holds
 * is taken out of its statement (the evaluator decides everything else), a statement whose
 * condition fails is taken out whole (it cannot apply to this request, Allow or Deny).
 *
 * Only the operators a key policy or a role uses on an encryption context are known; any other
 * throws rather than guess.
 */
import type { PolicyDocument, PolicyStatement } from './template';

const CONTEXT_KEY = /^kms:encryptioncontext:(.+)$/i;

type Values = string | string[];

function glob(pattern: string): RegExp {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 's');
}

const matchers: Record<string, (actual: string, expected: string) => boolean> = {
  StringEquals: (actual, expected) => actual === expected,
  StringLike: (actual, expected) => glob(expected).test(actual),
};

/** Does the condition `operator: { key: expected }` hold for `actual` (undefined: not in the request)? */
export function conditionHolds(operator: string, expected: unknown, actual: string | undefined): boolean {
  const values = [expected].flat().map(String);
  if (operator === 'Null') return (actual === undefined) === (values[0] === 'true');
  const ifExists = operator.endsWith('IfExists');
  const base = ifExists ? operator.slice(0, -'IfExists'.length) : operator;
  const negated = base.includes('Not');
  const matcher = matchers[base.replace('Not', '')];
  if (!matcher) throw new Error(`the harness cannot decide ${operator} on an encryption context key: teach test/aws/encryption-context.ts`);
  // An absent key: IfExists holds; a negated operator holds; a positive one does not (as IAM decides).
  if (actual === undefined) return ifExists || negated;
  const matched = values.some((value) => matcher(actual, value));
  return negated ? !matched : matched;
}

/** The statement with its encryption-context conditions decided: the rest of it, or undefined if it cannot apply. */
function decideStatement(statement: PolicyStatement, context: Record<string, Values>): PolicyStatement | undefined {
  if (!statement.Condition) return statement;
  const condition: Record<string, Record<string, unknown>> = {};
  for (const [operator, keys] of Object.entries(statement.Condition)) {
    const kept: Record<string, unknown> = {};
    for (const [key, expected] of Object.entries(keys)) {
      const contextKey = CONTEXT_KEY.exec(key)?.[1];
      if (contextKey === undefined) kept[key] = expected;
      else if (!conditionHolds(operator, expected, actualValue(context, contextKey))) return undefined;
    }
    if (Object.keys(kept).length) condition[operator] = kept;
  }
  const { Condition: _, ...rest } = statement;
  return Object.keys(condition).length ? { ...rest, Condition: condition } : rest;
}

function actualValue(context: Record<string, Values>, contextKey: string): string | undefined {
  // The `kms:EncryptionContext:` prefix is case-insensitive; the context key itself is not.
  const entry = Object.entries(context).find(([key]) => CONTEXT_KEY.exec(key)?.[1] === contextKey);
  return entry === undefined ? undefined : String(entry[1]);
}

/** `policy` with every `kms:EncryptionContext:<key>` condition decided against the request's `context`. */
export function applyEncryptionContext(policy: PolicyDocument, context: Record<string, Values>): PolicyDocument {
  const statements = policy.Statement.map((statement) => decideStatement(statement, context)).filter(
    (statement): statement is PolicyStatement => statement !== undefined,
  );
  return { ...policy, Statement: statements };
}
