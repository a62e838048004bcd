import type { Clock } from '../core/clock.js';
import type { Store } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import type { Logger } from '../core/observability/index.js';
import { ListRegistry } from './lists.js';
import {
  addressKey,
  type ContactDraft,
  type ContactsImport,
  emptyReport,
  type ImportReport,
  mergeContact,
  normaliseAddress,
  type OnDuplicate,
  recordError,
  type SuppressionInput,
  validateContact,
} from './model.js';
import {
  addSuppression,
  contactsByKey,
  deleteContact,
  deleteSuppression,
  insertContacts,
  type NewContact,
  type SuppressionRecord,
  updateContact,
} from './store.js';

/** Dependencies of audiences. */
export interface AudiencesDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
}

/**
 * Contacts written per transaction by an import. Small, because a batch waits in memory while it
 * fills and is written: where V8's scavenges fall in that cycle, every scavenge promoted a
 * batch's worth of rows to the old space. With 1,000, a third of B8's imports left 110 MB of
 * such garbage instead of 26; with 250, one run in about 90 left 27 MB more. Reading the next
 * batch during a commit's fsync (ContactWriter) keeps the import about as fast.
 */
export const IMPORT_BATCH = 250;

/**
 * Writes the good rows of one import in batches, one transaction each, and counts what each
 * row became. An address seen earlier in the same import is a `duplicatesInFile` (the first
 * one is kept); the set of keys seen grows with the number of distinct addresses (about 100
 * bytes each), never with the size of the file.
 *
 * A batch is read while the one before is made durable (its commit's fsync): the import does
 * not wait for the disk batch by batch, which small batches would make slow, and at most two
 * batches are in memory, the one written being let go of as soon as its statements ran.
 */
export class ContactWriter {
  private readonly seen = new Set<string>();
  private pending: ContactDraft[] = [];
  /** The batch being written; its failure surfaces at the next batch or at `flush`. */
  private writing: Promise<void> | undefined;

  constructor(
    private readonly deps: AudiencesDeps,
    private readonly listId: string,
    private readonly onDuplicate: OnDuplicate,
    readonly report: ImportReport,
  ) {}

  /** Takes a valid row; starts writing a batch when one is full. */
  async add(draft: ContactDraft): Promise<void> {
    if (this.seen.has(draft.key)) {
      this.report.duplicatesInFile += 1;
      return;
    }
    this.seen.add(draft.key);
    this.pending.push(draft);
    if (this.pending.length >= IMPORT_BATCH) await this.startBatch();
  }

  /** Writes the rows taken so far; resolves once every batch is written and durable. */
  async flush(): Promise<void> {
    await this.startBatch();
    await this.writing;
  }

  /** Starts writing the rows taken so far, once the batch before is written. */
  private async startBatch(): Promise<void> {
    await this.writing;
    if (this.pending.length === 0) return;
    const writing = this.write({ rows: this.pending });
    this.pending = [];
    writing.catch(() => undefined); // awaited by the next batch or by flush
    this.writing = writing;
  }

  private async write(batch: { rows?: ContactDraft[] }): Promise<void> {
    const counts = await this.deps.store.transaction(async (tx) => {
      // The rows are let go of here, not held until the commit is durable: the next batch is
      // read meanwhile, and rows kept through its scavenges were promoted to the old space.
      const rows = batch.rows as ContactDraft[];
      batch.rows = undefined;
      const now = this.deps.clock.now();
      const existing = await contactsByKey(
        tx,
        this.listId,
        rows.map((d) => d.key),
      );
      const fresh: NewContact[] = [];
      let updated = 0;
      let unchanged = 0;
      for (const draft of rows) {
        const stored = existing.get(draft.key);
        if (!stored) {
          fresh.push({
            id: uuidv7(),
            key: draft.key,
            address: draft.address,
            given: draft.given,
            name: draft.name,
            attributes: draft.attributes,
          });
          continue;
        }
        const merged = mergeContact(stored, draft, this.onDuplicate);
        if (!merged.changed) {
          unchanged += 1;
          continue;
        }
        await updateContact(tx, stored.id, { key: draft.key, ...merged }, now);
        updated += 1;
      }
      const inserted = await insertContacts(tx, this.listId, fresh, now);
      // A key another import inserted between the read and the insert was left as it is.
      return { imported: inserted, updated, unchanged: unchanged + fresh.length - inserted };
    });
    this.report.imported += counts.imported;
    this.report.updated += counts.updated;
    this.report.unchanged += counts.unchanged;
  }
}

/** Audiences: lists, their contacts and imports, and the suppression list. */
export class Audiences {
  readonly lists: ListRegistry;

  constructor(readonly deps: AudiencesDeps) {
    this.lists = new ListRegistry(deps);
  }

  stop(): void {
    this.lists.close();
  }

  /** Imports contacts given as JSON (at most 10,000): the same report as a CSV import, with indexes. */
  async importContacts(listId: string, input: ContactsImport): Promise<ImportReport> {
    await this.lists.load(listId);
    const report = emptyReport(null, null);
    const writer = new ContactWriter(this.deps, listId, input.onDuplicate, report);
    for (const [index, contact] of input.contacts.entries()) {
      report.rows += 1;
      const draft = validateContact(contact, { address: 'address', name: 'name' });
      if ('message' in draft) recordError(report, { index, ...draft });
      else await writer.add(draft);
    }
    await writer.flush();
    this.logImport(listId, 'json', report);
    return report;
  }

  /** Deletes a list's contact by address (normalised); NOT_FOUND when the list has none. */
  async removeContact(listId: string, address: string): Promise<void> {
    await this.lists.load(listId);
    if (!(await deleteContact(this.deps.store.db, listId, addressKey(address))))
      throw new AppError(
        'NOT_FOUND',
        `list ${listId} has no contact ${JSON.stringify(address.slice(0, 320))}`,
      );
  }

  /** Adds an address to the suppression list (one already there keeps its first reason and time). */
  async suppress(input: SuppressionInput): Promise<{ record: SuppressionRecord; created: boolean }> {
    const normalised = normaliseAddress(input.address);
    if ('problem' in normalised)
      throw new AppError('VALIDATION_FAILED', `address ${normalised.problem}`, {
        details: [{ in: 'body', field: 'address', message: normalised.problem }],
      });
    const result = await addSuppression(
      this.deps.store.db,
      {
        key: normalised.key,
        address: normalised.address,
        reason: input.reason,
        source: input.source,
        detail: input.detail ?? null,
      },
      this.deps.clock.now(),
    );
    if (result.created)
      this.deps.logger.info(
        { event: 'suppression.added', reason: input.reason, source: input.source },
        'address suppressed',
      );
    return result;
  }

  /** Takes an address off the suppression list; NOT_FOUND when it was not on it. */
  async unsuppress(address: string): Promise<void> {
    if (!(await deleteSuppression(this.deps.store.db, addressKey(address))))
      throw new AppError(
        'NOT_FOUND',
        `${JSON.stringify(address.slice(0, 320))} is not on the suppression list`,
      );
  }

  /** Logs the outcome of an import (counts only: addresses are personal data). */
  logImport(listId: string, format: 'csv' | 'json', report: ImportReport): void {
    const { rows, imported, updated, unchanged, duplicatesInFile, invalid } = report;
    this.deps.logger.info(
      {
        event: 'list.imported',
        listId,
        format,
        rows,
        imported,
        updated,
        unchanged,
        duplicatesInFile,
        invalid,
      },
      'contacts imported',
    );
  }
}
