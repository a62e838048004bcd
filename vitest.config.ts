import { defineConfig } from 'vitest/config';

/**
 * Three projects: unit tests once; integration tests (`*.int.test.ts`, real services) on SQLite;
 * and the ones that touch the database again on PostgreSQL, so both dialects pass the same suite.
 * Two cores: at most two test files run at once.
 */
const integration = { testTimeout: 60_000, hookTimeout: 60_000 };

export default defineConfig({
  test: {
    pool: 'forks',
    // Process tests spawn the compiled build; this builds dist/ first when a source is newer.
    globalSetup: ['test/support/build-dist.ts'],
    maxWorkers: 2,
    fileParallelism: true,
    reporters: process.env.CI ? ['default'] : ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'dashboard/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', 'node_modules/**', 'dist/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'sqlite',
          include: ['src/**/*.int.test.ts', 'test/**/*.int.test.ts'],
          env: { FACTEUR_TEST_DB: 'sqlite' },
          ...integration,
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: ['src/**/*.int.test.ts', 'test/e2e/**/*.int.test.ts'],
          env: { FACTEUR_TEST_DB: 'postgres' },
          ...integration,
        },
      },
    ],
  },
});
