import { SMTPServer } from 'smtp-server';
import type { Receipt } from './b2-shared.js';
import { onParentMessage, report } from './lib/child.js';
import { UsageMonitor } from './lib/usage.js';

/**
 * B2's sink (pinned to core 1 by the parent): an smtp-server on 127.0.0.1 that accepts
 * everything and notes, for every message, its key (the local part of its first recipient) and
 * the end of its DATA (epoch ms from the monotonic clock), repeats included. Every figure of B2
 * is read from these receipts, the same way for Facteur and the baseline.
 *
 * Commands: `{cmd: 'reset'}` (a new run), `{cmd: 'receipts'}` (everything so far),
 * `{cmd: 'count'}`, `{cmd: 'usage'}`.
 */

const now = (): number => performance.timeOrigin + performance.now();
const monitor = new UsageMonitor();
let receipts: Receipt[] = [];

const server = new SMTPServer({
  disabledCommands: ['AUTH', 'STARTTLS'],
  authOptional: true,
  disableReverseLookup: true,
  logger: false,
  banner: 'B2 sink',
  onData(stream, session, callback) {
    stream.resume();
    stream.on('end', () => {
      const to = session.envelope.rcptTo[0]?.address ?? '';
      receipts.push([to.slice(0, to.indexOf('@')), now()]);
      callback();
    });
  },
});
server.on('error', (error) => process.stderr.write(`sink: ${String(error)}\n`));

server.listen(0, '127.0.0.1', () => {
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  onParentMessage((message) => {
    const { cmd } = message as { cmd: string };
    if (cmd === 'reset') {
      receipts = [];
      report({ ok: true });
    }
    if (cmd === 'receipts') report(receipts);
    if (cmd === 'count') report({ count: receipts.length, unique: new Set(receipts.map(([k]) => k)).size });
    if (cmd === 'usage') report(monitor.snapshot());
  });
  report({ port });
});
