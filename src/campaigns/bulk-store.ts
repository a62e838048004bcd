import { CompiledQuery, type Kysely, type QueryResult } from 'kysely';
import type { Database, Dialect } from '../core/db/index.js';

/**
 * Statements over many rows as plain SQL text and one flat array of parameters, for the bulk
 * paths of audiences and campaigns (an import's contacts, a campaign's inline ledger): the same
 * text on SQLite and PostgreSQL but for the placeholders (`?`, `$n`).
 *
 * Why not Kysely's builder: it makes a tree of nodes for every value and compiles it again on
 * every call: about 200 MB of short-lived objects for 100,000 rows. The scavenges they cost
 * promoted more of the rows waiting in a batch into the old space, which V8 lets grow to about
 * four times the live heap before it collects it: most of B8's peak RSS (bench/README.md).
 */
export class BulkStatement {
  /** Parameters per repeated part. */
  readonly width: number;
  /** Parameters of the head and the tail. */
  private readonly fixed: number;
  /** The texts last made, by dialect and parts: a run's full-size statements and its last. */
  private readonly texts = new Map<string, string>();

  /**
   * `head` + `part` repeated (joined with `, `) + `tail`, each with one `?` per parameter
   * (constants are written in). `part` is repeated at most `maxParts` times per statement, which
   * keeps every statement under each dialect's parameter limit.
   */
  constructor(
    private readonly head: string,
    private readonly part: string,
    private readonly tail: string,
    readonly maxParts: number,
  ) {
    this.width = placeholders(part);
    this.fixed = placeholders(head) + placeholders(tail);
  }

  /** Runs the statement with `params`: the head's, a whole number of parts' (at most `maxParts`), the tail's. */
  execute<R>(db: Kysely<Database>, dialect: Dialect, params: unknown[]): Promise<QueryResult<R>> {
    const parts = (params.length - this.fixed) / this.width;
    return db.executeQuery<R>(CompiledQuery.raw(this.text(dialect, parts), params));
  }

  /** Runs it and answers how many rows it changed. */
  async affected(db: Kysely<Database>, dialect: Dialect, params: unknown[]): Promise<number> {
    return Number((await this.execute(db, dialect, params)).numAffectedRows ?? 0);
  }

  /**
   * The statement's text for `parts` parts, kept for the next call (the store's statement cache
   * then finds it prepared): a batch is nearly always the same size as the one before.
   */
  private text(dialect: Dialect, parts: number): string {
    const key = `${dialect}:${parts}`;
    const kept = this.texts.get(key);
    if (kept !== undefined) return kept;
    const sqlite = `${this.head}${new Array<string>(parts).fill(this.part).join(', ')}${this.tail}`;
    let n = 0;
    const text = dialect === 'postgres' ? sqlite.replace(/\?/g, () => `$${++n}`) : sqlite;
    if (this.texts.size >= KEPT_TEXTS) this.texts.delete(this.texts.keys().next().value as string);
    this.texts.set(key, text);
    return text;
  }
}

/** Statement texts kept per BulkStatement. */
const KEPT_TEXTS = 4;

function placeholders(text: string): number {
  return text.split('?').length - 1;
}
