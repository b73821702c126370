// The AWS SDK warns once per worker that its 2027 releases need Node 22; this machine runs 20
// (Lambda runs 22). Said once here rather than eight times in every test run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': 'ts-jest',
    // middy is ESM-only; ts-jest turns its .js files into CommonJS for jest.
    '^.+\\.js$': 'ts-jest',
  },
  transformIgnorePatterns: ['/node_modules/(?!@middy/)'],
  moduleNameMapper: {
    // The client package from its sources (as tsconfig.json's paths), and their ESM-style './x.js' imports.
    '^zoom-token-vault-client$': '<rootDir>/client/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testTimeout: 30000,
  // Before any file: the Lambda bundles built once (scripts/build-handlers.ts), then the AWS
  // contract's stacks synthesized once (docs/aws-contract.md); after each file, every AWS call its
  // functions made evaluated against their roles.
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  setupFilesAfterEnv: ['<rootDir>/test/aws/check-file-calls.ts'],
};
