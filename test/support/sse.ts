/** One event of a Server-Sent Events stream. */
export interface StreamEvent {
  event: string;
  data: unknown;
}

/** A stream being read: what arrived so far, and whether the server closed it. */
export interface OpenStream {
  /** The events so far, in order (comments left out). */
  readonly events: StreamEvent[];
  /** Every byte so far as text, comments (`: keep-alive`) included. */
  text(): string;
  /** True once the server ended the stream. */
  readonly closed: boolean;
  /** The answer's status and content type. */
  status: number;
  contentType: string;
  close(): void;
}

/** Opens `url` with a bearer `key` and reads it in the background as it arrives. */
export async function openEventStream(url: string, key: string): Promise<OpenStream> {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' },
    signal: controller.signal,
  });
  let text = '';
  const events: StreamEvent[] = [];
  const stream: OpenStream = {
    events,
    text: () => text,
    closed: false,
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    close: () => controller.abort(),
  };
  const reader = response.body?.getReader();
  const decoder = new TextDecoder();
  let pending = '';
  void (async () => {
    try {
      for (;;) {
        const chunk = await reader?.read();
        if (!chunk || chunk.done) break;
        const part = decoder.decode(chunk.value, { stream: true });
        text += part;
        pending += part;
        let end = pending.indexOf('\n\n');
        while (end >= 0) {
          const block = pending.slice(0, end);
          pending = pending.slice(end + 2);
          const event = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (event !== undefined) events.push({ event, data: data === undefined ? null : JSON.parse(data) });
          end = pending.indexOf('\n\n');
        }
      }
    } catch {
      // aborted by close()
    }
    (stream as { closed: boolean }).closed = true;
  })();
  return stream;
}
