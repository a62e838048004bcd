import { Pool } from 'undici';

/**
 * The benchmarks' client of Facteur's HTTP API: JSON requests under `/api` with the API key as a
 * bearer token, over one keep-alive undici pool. Each benchmark's driver extends it with the calls
 * it needs (B5: endpoints and events; B6 and B7: mailboxes, rules, watchers).
 */

/** The methods the benchmarks call. */
export type ApiMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export class FacteurClient {
  private readonly pool: Pool;

  /** `url` is Facteur's base URL (`http://127.0.0.1:<port>`); `connections` bounds requests in flight. */
  constructor(
    url: string,
    private readonly key: string,
    connections: number,
  ) {
    this.pool = new Pool(url, { connections, keepAliveTimeout: 60_000 });
  }

  /** One API call to `/api<path>`; throws unless the status is `expect`. Answers the parsed JSON body. */
  async call<T>(method: ApiMethod, path: string, body?: unknown, expect = 200): Promise<T> {
    const response = await this.pool.request({
      path: `/api${path}`,
      method,
      headers: {
        authorization: `Bearer ${this.key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.body.text();
    if (response.statusCode !== expect)
      throw new Error(`${method} ${path} answered ${response.statusCode}: ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
