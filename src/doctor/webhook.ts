import type { LookupFunction, Socket } from 'node:net';
import type { Clock } from '../core/clock.js';
import { ERROR_CODES, type ErrorCode } from '../core/errors.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import type { Endpoint } from '../webhooks/index.js';
import { type CheckReport, type StageResult, stagesOk, webhookAnswerHint } from './model.js';
import { dnsStage, judgeTls, NETWORK_CODES, serverName, ssrfStage, tcpStage } from './network.js';
import { StageError, StageRunner } from './runner.js';
import { errorCodeOf, startTls, tlsFacts } from './wire.js';

/**
 * `doctor webhook`: an endpoint's receiver, stage by stage: dns, ssrf (the guard's verdict per
 * address), tcp, tls (https), then the signed test request `POST /api/endpoints/{id}/test` sends,
 * with the receiver's answer.
 */

/** What a test send answers (`Webhooks.testEndpoint`). */
export interface TestSend {
  request: { url: string; headers: Record<string, string> };
  response?: {
    ok: boolean;
    statusCode: number | null;
    latencyMs: number | null;
    body: string | null;
    error: { code: string; message: string } | null;
  };
}

/** What `checkWebhook` checks and with what. */
export interface WebhookCheckOptions {
  endpoint: Endpoint;
  guard: TargetGuard;
  clock: Clock;
  /** Sends the signed test event to the endpoint (the webhooks module's `testEndpoint`). */
  sendTest: (endpointId: string) => Promise<TestSend>;
  /** Trusted CA certificates (PEM) for the tls stage instead of the system store. */
  ca?: string[];
  lookup?: LookupFunction;
  onStage?: (stage: StageResult) => void;
}

const CODES = NETWORK_CODES.webhook;
/** Characters of the receiver's answer kept in the report. */
const EXCERPT = 200;

const isErrorCode = (code: string): code is ErrorCode => Object.hasOwn(ERROR_CODES, code);

/** The URL without its query and fragment, which may carry tokens. */
function shownUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** Runs the webhook check of an endpoint. */
export async function checkWebhook(options: WebhookCheckOptions): Promise<CheckReport> {
  const { endpoint, clock } = options;
  const settings = endpoint.settings;
  const url = new URL(settings.url);
  const https = url.protocol === 'https:';
  const port = Number(url.port) || (https ? 443 : 80);
  const runner = new StageRunner(clock, options.onStage);
  let socket: Socket | undefined;
  try {
    let addresses = await dnsStage(runner, CODES, url.hostname, settings.connectTimeoutMs, options.lookup);
    addresses = await ssrfStage(runner, options.guard, url.hostname, addresses);
    socket = await tcpStage(runner, CODES, addresses, port, settings.connectTimeoutMs);
    if (https) {
      await runner.stage(
        'tls',
        {
          timeoutMs: settings.connectTimeoutMs,
          timeoutCode: 'WEBHOOK_TIMEOUT',
          timeoutWhat: 'no TLS handshake',
          timeoutHint: 'the port does not answer TLS: is it an http:// receiver?',
          classify: (error) =>
            new StageError(
              'WEBHOOK_CONNECT_FAILED',
              `TLS handshake failed: ${(error as Error).message}`,
              errorCodeOf(error) === 'ERR_SSL_WRONG_VERSION_NUMBER'
                ? "the port answers plain HTTP: use an http:// URL, or the receiver's TLS port"
                : 'the receiver and Node agree on no TLS protocol or cipher',
            ),
        },
        async (signal) => {
          const secure = await startTls(
            socket as Socket,
            {
              ...serverName(url.hostname),
              ...(options.ca ? { ca: options.ca } : {}),
              ALPNProtocols: ['http/1.1'],
            },
            signal,
          );
          socket = secure;
          return judgeTls(CODES, tlsFacts(secure, url.hostname), url.hostname, true, clock.now());
        },
      );
    }
    socket?.destroy();
    socket = undefined;
    await runner.stage(
      'request',
      {
        // The test send has its own timeouts (the endpoint's); this only bounds the stage.
        timeoutMs: settings.timeoutMs + 5000,
        timeoutCode: 'WEBHOOK_TIMEOUT',
        timeoutWhat: 'no answer',
        timeoutHint: webhookAnswerHint(null, 'WEBHOOK_TIMEOUT'),
      },
      async () => {
        const sent = await options.sendTest(endpoint.id);
        const answer = sent.response;
        const detail = {
          url: shownUrl(url),
          status: answer?.statusCode ?? null,
          ms: answer?.latencyMs ?? null,
          webhookId: sent.request.headers['webhook-id'] ?? null,
          signed: Boolean(sent.request.headers['webhook-signature']),
          body: answer?.body ? answer.body.slice(0, EXCERPT) : null,
          endpointStatus: endpoint.status,
        };
        if (answer?.ok) return { detail };
        const code = answer?.error?.code ?? 'WEBHOOK_CONNECT_FAILED';
        throw new StageError(
          isErrorCode(code) ? code : 'WEBHOOK_CONNECT_FAILED',
          answer?.error?.message ?? 'the test request got no answer',
          webhookAnswerHint(answer?.statusCode ?? null, code),
          detail,
        );
      },
    );
  } finally {
    socket?.destroy();
  }
  return { check: 'webhook', target: settings.name, ok: stagesOk(runner.stages), stages: runner.stages };
}
