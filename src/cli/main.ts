#!/usr/bin/env node
import { Command, Option } from 'commander';
import { migrateToLatest, openStore } from '../core/db/index.js';
import { packageVersion } from '../main.js';
import { apikeyCreateCommand, apikeyListCommand, apikeyRevokeCommand } from './apikey.js';
import { configCheckCommand } from './config-check.js';
import { sendCommand } from './send.js';
import { serveCommand } from './serve.js';
import { commandLogger, configOrExit, EXIT, print, runCommand } from './shared.js';

/** The `facteur` command. Configuration comes from FACTEUR_* variables (and ./.env). */

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

const program = new Command('facteur')
  .description('Self-hosted email automation: durable outbox, mail catcher, job engine.')
  .version(packageVersion())
  .showHelpAfterError()
  // Usage mistakes (unknown command, missing option) exit 2 like configuration errors; help and
  // --version exit 0. Set before the subcommands are defined so that they inherit it.
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : EXIT.usage));

program
  .command('serve')
  .description('Run the HTTP API, the job engine and (without FACTEUR_SMTP_URL) the built-in mail catcher.')
  .action(() => serveCommand());

program
  .command('migrate')
  .description('Apply pending database migrations (serve also does this at start).')
  .action(() =>
    runCommand(async () => {
      const config = configOrExit();
      const store = openStore(config.database, { logger: commandLogger(config) });
      try {
        const applied = await migrateToLatest(store);
        print(
          applied.length === 0
            ? `${store.location}: schema already up to date`
            : `${store.location}: applied ${applied.join(', ')}`,
        );
        return 0;
      } finally {
        await store.close();
      }
    }),
  );

const apikey = program.command('apikey').description('Manage API keys for the /api routes.');
apikey
  .command('create')
  .description('Create a key; it is printed once and stored hashed.')
  .requiredOption('--name <name>', 'what the key is for')
  .option('--json', 'print {"id", "key"} as JSON')
  .action((options: { name: string; json?: boolean }) => runCommand(() => apikeyCreateCommand(options)));
apikey
  .command('list')
  .description('List keys (never the secrets).')
  .option('--json', 'print JSON')
  .action((options: { json?: boolean }) => runCommand(() => apikeyListCommand(options)));
apikey
  .command('revoke')
  .description('Revoke a key by id or prefix; it stops working at once.')
  .argument('<id>', 'key id or prefix (fct_xxxxxxxx)')
  .option('--json', 'print JSON')
  .action((id: string, options: { json?: boolean }) => runCommand(() => apikeyRevokeCommand(id, options)));

program
  .command('config')
  .description('Configuration tools.')
  .command('check')
  .description('Report every configuration problem and whether the database and SMTP server can be reached.')
  .option('--json', 'print JSON')
  .action((options: { json?: boolean }) => runCommand(() => configCheckCommand(options)));

program
  .command('send')
  .description('Queue a message and follow it to its final status (needs a running `facteur serve`).')
  .requiredOption('--to <address>', 'recipient; repeat for several', collect)
  .requiredOption('--subject <subject>', 'subject line')
  .option('--cc <address>', 'carbon copy; repeatable', collect)
  .option('--bcc <address>', 'blind carbon copy; repeatable', collect)
  .option('--from <address>', 'sender (default FACTEUR_MAIL_FROM)')
  .option('--reply-to <address>', 'reply-to address')
  .option('--text <text>', 'plain-text body')
  .option('--text-file <path>', 'read the plain-text body from a file')
  .option('--html <html>', 'HTML body')
  .option('--html-file <path>', 'read the HTML body from a file')
  .option('--header <"Name: value">', 'extra header; repeatable', collect)
  .option('--idempotency-key <key>', 'sending again with the same key sends nothing more')
  .option('--no-wait', 'return once queued instead of following the message')
  .addOption(new Option('--timeout <duration>', 'how long to follow the message').default('60s'))
  .option('--json', 'print the final message as JSON')
  .action((options: Parameters<typeof sendCommand>[0]) => runCommand(() => sendCommand(options)));

await program.parseAsync(process.argv);
