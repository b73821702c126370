import { App, CfnResource, Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { logicalIdOfPath } from '../../lib/logical-ids';

describe('logicalIdOfPath', () => {
  it.each([
    [['TokenTable']],
    [['TokenTable', 'Resource']],
    [['HttpApi', 'GET--zoom--token', 'CallbackIntegration-Permission']],
    [['Outer', 'Default', 'Inner']],
    [['HttpApi', 'Api']],
    [['x'.repeat(300)]],
    [['A'.repeat(200), 'B'.repeat(100)]],
  ])('gives %p the id CDK gives it', (path) => {
    // Prepare: constructs at `path` in a plain stack, which allocates ids the CDK way.
    const stack = new Stack(new App(), 'Ids');
    let scope: Construct = stack;
    for (const id of path.slice(0, -1)) scope = new Construct(scope, id);
    const element = new CfnResource(scope, path[path.length - 1], { type: 'Test::Thing' });

    // Act
    const id = logicalIdOfPath(path);

    // Assess
    expect(id).toBe(stack.resolve(element.logicalId));
  });
});
