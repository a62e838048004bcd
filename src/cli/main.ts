#!/usr/bin/env node
import { Command, Option } from 'commander';
import { packageVersion } from '../core/version.js';
import type { campaignSendCommand } from './campaign.js';
import { EXIT } from './exit-codes.js';
import type { reportRunCommand } from './report.js';
import type { sendCommand } from './send.js';

/**
 * The `facteur` command. Configuration comes from FACTEUR_* variables (and ./.env). Each
 * command's module is loaded when that command runs: `facteur --help` or `facteur send` does
 * not load the whole server (about 1,500 modules, 2 s on the CI machine).
 */

const runCommand = async (body: () => Promise<number | undefined>) =>
  (await import('./shared.js')).runCommand(body);
const apikeyCommands = () => import('./apikey.js');
const campaignCommands = () => import('./campaign.js');
const reportCommands = () => import('./report.js');
const userCommands = () => import('./user.js');
const doctorCommand = async (...args: Parameters<typeof import('./doctor.js').doctorCommand>) =>
  (await import('./doctor.js')).doctorCommand(...args);

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
  .action(async () => (await import('./serve.js')).serveCommand());

program
  .command('migrate')
  .description('Apply pending database migrations (serve also does this at start).')
  .action(() => runCommand(async () => (await import('./migrate.js')).migrateCommand()));

const user = program.command('user').description('Manage the people who sign in to the dashboard.');
user
  .command('create')
  .description('Create a user; with --admin, the first admin (or any other).')
  .requiredOption('--email <email>', 'the sign-in email')
  .option('--name <name>', 'the name shown in the dashboard (default: the part before @)')
  .option('--role <role>', 'admin, operator or viewer (docs/security.md)', 'viewer')
  .option('--admin', 'the admin role (the same as --role admin)')
  .option(
    '--password-stdin',
    'read the password from the first line of standard input (else: sign-in by emailed link)',
  )
  .option('--json', 'print the user as JSON')
  .action(
    (options: {
      email: string;
      name?: string;
      role?: string;
      admin?: boolean;
      passwordStdin?: boolean;
      json?: boolean;
    }) => runCommand(async () => (await userCommands()).userCreateCommand(options)),
  );
user
  .command('list')
  .description('List users (never a password).')
  .option('--json', 'print JSON')
  .action((options: { json?: boolean }) =>
    runCommand(async () => (await userCommands()).userListCommand(options)),
  );

const apikey = program.command('apikey').description('Manage API keys for the /api routes.');
apikey
  .command('create')
  .description('Create a key; it is printed once and stored hashed.')
  .requiredOption('--name <name>', 'what the key is for')
  .option(
    '--role <role>',
    'admin (everything), operator (run and change mail, rules, endpoints, campaigns, reports) or viewer ' +
      '(read only). Default admin: what every key could do before roles, so existing scripts keep ' +
      'working; give applications the least role they need (docs/security.md)',
    'admin',
  )
  .option('--json', 'print {"id", "key", "role"} as JSON')
  .action((options: { name: string; role?: string; json?: boolean }) =>
    runCommand(async () => (await apikeyCommands()).apikeyCreateCommand(options)),
  );
apikey
  .command('list')
  .description('List keys (never the secrets).')
  .option('--json', 'print JSON')
  .action((options: { json?: boolean }) =>
    runCommand(async () => (await apikeyCommands()).apikeyListCommand(options)),
  );
apikey
  .command('revoke')
  .description('Revoke a key by id or prefix; it stops working at once.')
  .argument('<id>', 'key id or prefix (fct_xxxxxxxx)')
  .option('--json', 'print JSON')
  .action((id: string, options: { json?: boolean }) =>
    runCommand(async () => (await apikeyCommands()).apikeyRevokeCommand(id, options)),
  );

program
  .command('config')
  .description('Configuration tools.')
  .command('check')
  .description(
    'Report every configuration problem and whether the database and the SMTP server (or each transport) can be reached.',
  )
  .option('--json', 'print JSON')
  .action((options: { json?: boolean }) =>
    runCommand(async () => (await import('./config-check.js')).configCheckCommand(options)),
  );

const doctor = program
  .command('doctor')
  .description(
    'Check every connection of the configuration stage by stage (each transport, mailboxes, endpoints); exits 1 if one fails.',
  )
  .option('--json', 'print JSON')
  .action((options: { json?: boolean }) => runCommand(() => doctorCommand({ kind: 'all' }, options)));
// `--json` after a subcommand is taken by `doctor` itself (commander reads a parent's options
// anywhere), so each subcommand reads both.
doctor
  .command('smtp')
  .description(
    'Check the SMTP relay (the first SMTP transport, the catcher, or URL): dns, tcp, tls, greeting, ehlo, auth.',
  )
  .argument('[url]', 'another relay, in the form of FACTEUR_SMTP_URL')
  .option('--send-to <address>', 'also send a real test message to this address')
  .option('--json', 'print JSON')
  .action((url: string | undefined, options: { sendTo?: string; json?: boolean }) =>
    runCommand(() =>
      doctorCommand(
        {
          kind: 'smtp',
          ...(url !== undefined ? { url } : {}),
          ...(options.sendTo ? { sendTo: options.sendTo } : {}),
        },
        { ...doctor.opts(), ...options },
      ),
    ),
  );
doctor
  .command('transport')
  .description(
    'Check a transport of FACTEUR_TRANSPORTS by name (as in /readyz): a provider API (dns, tcp, tls, auth) or an SMTP relay.',
  )
  .argument('<name>', 'transport name, e.g. smtp, postmark, sendgrid-2')
  .option('--json', 'print JSON')
  .action((name: string, options: { json?: boolean }) =>
    runCommand(() => doctorCommand({ kind: 'transport', transport: name }, { ...doctor.opts(), ...options })),
  );
doctor
  .command('imap')
  .description('Check a mailbox: dns, ssrf, tcp, tls, greeting, capability, login, select.')
  .argument('<mailbox>', 'mailbox name or id')
  .option('--json', 'print JSON')
  .action((mailbox: string, options: { json?: boolean }) =>
    runCommand(() => doctorCommand({ kind: 'imap', mailbox }, { ...doctor.opts(), ...options })),
  );
doctor
  .command('webhook')
  .description('Check a webhook endpoint: dns, ssrf, tcp, tls, and a signed test request.')
  .argument('<endpoint>', 'endpoint name or id')
  .option('--json', 'print JSON')
  .action((endpoint: string, options: { json?: boolean }) =>
    runCommand(() => doctorCommand({ kind: 'webhook', endpoint }, { ...doctor.opts(), ...options })),
  );

const report = program.command('report').description('Scheduled reports: list, run now, runs, preview.');
report
  .command('list')
  .description('Every report with its schedule and next run.')
  .option('--json', 'print JSON')
  .action((options: { json?: boolean }) =>
    runCommand(async () => (await reportCommands()).reportListCommand(options)),
  );
report
  .command('run')
  .description('Run a report now (the running `facteur serve` does the work); --follow prints each stage.')
  .argument('<name>', 'report name or id')
  .option('--data <json>', 'data for the templates (a report with a push source needs it)')
  .option('--data-file <path>', 'read the data from a JSON file')
  .option('--slot <slot>', '`latest` or an ISO instant: the scheduled slot this run stands for (runs once)')
  .option('--idempotency-key <key>', 'running again with the same key starts nothing more')
  .option('--follow', 'print each stage as it completes; exit 1 if the run fails')
  .addOption(new Option('--timeout <duration>', 'how long to follow the run').default('5m'))
  .option('--json', 'print JSON')
  .action((name: string, options: Parameters<typeof reportRunCommand>[1]) =>
    runCommand(async () => (await reportCommands()).reportRunCommand(name, options)),
  );
report
  .command('runs')
  .description('Recent runs of a report, newest first, with the failing stage.')
  .argument('<name>', 'report name or id')
  .addOption(new Option('--limit <n>', 'how many').default('20'))
  .option('--json', 'print JSON')
  .action((name: string, options: { limit: string; json?: boolean }) =>
    runCommand(async () => (await reportCommands()).reportRunsCommand(name, options)),
  );
report
  .command('preview')
  .description("Render a report with --data or its source's data; sends nothing.")
  .argument('<name>', 'report name or id')
  .option('--data <json>', 'data for the templates')
  .option('--data-file <path>', 'read the data from a JSON file')
  .option('--json', 'print JSON')
  .action((name: string, options: { data?: string; dataFile?: string; json?: boolean }) =>
    runCommand(async () => (await reportCommands()).reportPreviewCommand(name, options)),
  );

const campaign = program
  .command('campaign')
  .description('Bulk mail: send a campaign from a CSV file, watch its progress.');
campaign
  .command('send')
  .description('Import FILE.csv into a new list and send it a campaign (the running `facteur serve` sends).')
  .argument('<file>', 'the members: a CSV file with a header line (UTF-8 or Latin-1, , ; or tab)')
  .requiredOption('--subject <text>', 'the subject (Liquid: {{ name }}, any column)')
  .requiredOption(
    '--template <file>',
    'the body: HTML when the file ends in .html, plain text otherwise (Liquid)',
  )
  .option('--text <file>', 'a plain-text version beside an HTML template')
  .option('--name <name>', 'the campaign name (default: the file name)')
  .option('--from <address>', 'sender (default FACTEUR_MAIL_FROM)')
  .option('--reply-to <address>', 'reply-to address')
  .option('--email <column>', 'the address column (default: email, e-mail, mail, courriel or adresse)')
  .option('--name-column <columns>', 'the name column, or several joined with a space (Prénom,Nom)')
  .option('--at <time>', 'start at this ISO time instead of now')
  .option('--draft', 'create it without starting (start with POST /api/campaigns/:id/start)')
  .option('--watch', 'show the progress until it ends; exit 1 if some were not delivered')
  .option('--json', 'print JSON')
  .action((file: string, options: Parameters<typeof campaignSendCommand>[1]) =>
    runCommand(async () => (await campaignCommands()).campaignSendCommand(file, options)),
  );
campaign
  .command('watch')
  .description("Show a campaign's progress until it ends; exit 0 when all were delivered, 1 otherwise.")
  .argument('<id>', 'campaign id')
  .option('--json', 'print the final figures as JSON')
  .action((id: string, options: { json?: boolean }) =>
    runCommand(async () => (await campaignCommands()).campaignWatchCommand(id, options)),
  );
campaign
  .command('list')
  .description('Recent campaigns with their progress.')
  .option('--json', 'print JSON')
  .action((options: { json?: boolean }) =>
    runCommand(async () => (await campaignCommands()).campaignListCommand(options)),
  );

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
  .action((options: Parameters<typeof sendCommand>[0]) =>
    runCommand(async () => (await import('./send.js')).sendCommand(options)),
  );

await program.parseAsync(process.argv);
