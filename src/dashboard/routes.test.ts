import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpApp } from '../core/http/server.js';
import { createMetricsRegistry, HealthRegistry, silentLogger } from '../core/observability/index.js';
import { registerDashboardRoutes } from './routes.js';

/** The dashboard's routes on a real HTTP server, with a built dashboard and without one. */

const CSP =
  "default-src 'none';script-src 'self';style-src 'self';img-src 'self' data:;connect-src 'self';" +
  "font-src 'self';frame-src 'self';frame-ancestors 'none';base-uri 'none';form-action 'self'";

async function serverFor(dir: string): Promise<HttpApp> {
  return createHttpServer({
    logger: silentLogger(),
    metrics: createMetricsRegistry(),
    health: new HealthRegistry(),
    bodyLimitBytes: 1024 * 1024,
    verifyKey: async () => undefined,
    version: 'test',
    registerApiRoutes: (api) => {
      api.get('/ping', async () => ({ pong: true }));
    },
    registerPublicRoutes: (app) => registerDashboardRoutes(app, { dir }),
  });
}

describe('the dashboard routes', () => {
  const root = mkdtempSync(join(tmpdir(), 'facteur-dashboard-'));
  const built = join(root, 'built');
  let app: HttpApp;
  let missing: HttpApp;

  beforeAll(async () => {
    mkdirSync(join(built, 'assets'), { recursive: true });
    writeFileSync(
      join(built, 'index.html'),
      '<!doctype html><script src="/assets/main-ABCDEFGH.js"></script>',
    );
    writeFileSync(join(built, 'assets', 'main-ABCDEFGH.js'), 'console.log(1)');
    writeFileSync(join(built, 'assets', 'main-ABCDEFGH.css'), 'body{}');
    app = await serverFor(built);
    missing = await serverFor(join(root, 'nothing-here'));
  });
  afterAll(async () => {
    await app?.close();
    await missing?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('answers index.html at / and /setup, uncached, with the strict CSP and the other headers', async () => {
    for (const url of ['/', '/setup?token=abc']) {
      const answer = await app.inject({ method: 'GET', url });
      expect(answer.statusCode).toBe(200);
      expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(answer.body).toContain('/assets/main-ABCDEFGH.js');
      expect(answer.headers['cache-control']).toBe('no-cache');
      expect(answer.headers['content-security-policy']).toBe(CSP);
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
      expect(answer.headers['referrer-policy']).toBe('no-referrer');
      expect(answer.headers['x-frame-options']).toBe('DENY');
      expect(answer.headers['strict-transport-security']).toBeUndefined();
    }
  });

  it('serves hashed assets for a year, and refuses unknown names and paths out of the folder', async () => {
    const script = await app.inject({ method: 'GET', url: '/assets/main-ABCDEFGH.js' });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(script.headers['content-security-policy']).toBe(CSP);
    const style = await app.inject({ method: 'GET', url: '/assets/main-ABCDEFGH.css' });
    expect(style.headers['content-type']).toBe('text/css; charset=utf-8');
    for (const url of [
      '/assets/nope.js',
      '/assets/..%2findex.html',
      '/assets/../index.html',
      '/assets/x.exe',
    ]) {
      const answer = await app.inject({ method: 'GET', url });
      expect(answer.statusCode, url).toBe(404);
      expect(answer.json().error.code, url).toBe('NOT_FOUND');
    }
  });

  it('answers a clear 503 page when the dashboard is not built', async () => {
    const answer = await missing.inject({ method: 'GET', url: '/' });
    expect(answer.statusCode).toBe(503);
    expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(answer.body).toContain('npm run build');
    expect(answer.headers['content-security-policy']).toBe(CSP);
  });

  it('keeps its routes out of the OpenAPI document and its headers off the API', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths).filter((path) => !path.startsWith('/api/'))).toEqual([
      '/healthz',
      '/readyz',
      '/metrics',
      '/openapi.json',
    ]);
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    expect(health.headers['content-security-policy']).toBeUndefined();
    const registered = app.registeredRoutes.map((r) => `${r.method} ${r.url}`);
    expect(registered).toEqual(expect.arrayContaining(['GET /', 'GET /setup', 'GET /assets/*']));
  });
});
