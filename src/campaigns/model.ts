import { domainToASCII } from 'node:url';
import { z } from 'zod';
import { parseMailbox } from '../core/email-address.js';
import { describeForbiddenChar, findForbiddenChar } from '../core/text.js';

/**
 * Audiences, the first brick of bulk mail: lists of contacts and the suppression list. Pure
 * logic only (no I/O): how an address is normalised and de-duplicated, what a contact may
 * carry, and the import report every import (CSV or JSON) answers with.
 *
 * - A contact keeps its address as given (`given`, the display form), its normalised address
 *   (`address`: trimmed, domain lower-cased and converted to ASCII) and its key (`key`: the
 *   whole normalised address lower-cased). A list holds one contact per key.
 * - The suppression list is keyed the same way; every campaign honours it (`isSuppressed` in
 *   store.ts), whatever list or inline recipients it sends to.
 */

/** Largest field (address, name, one attribute) a contact may have: 10 KB. */
export const MAX_FIELD_BYTES = 10 * 1024;
/** Most attributes per contact. */
export const MAX_ATTRIBUTES = 100;
/** Largest attributes object, as JSON: 64 KB. */
export const MAX_ATTRIBUTES_BYTES = 64 * 1024;
/** Most contacts per JSON import (`POST /api/lists/:id/contacts`). */
export const MAX_JSON_CONTACTS = 10_000;
/** Most row errors an import report lists (the count `invalid` has them all). */
export const MAX_REPORTED_ERRORS = 1000;

/** Why an address was put on the suppression list. */
export const SUPPRESSION_REASONS = ['unsubscribed', 'hard_bounce', 'complaint', 'manual'] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

/** An attribute value: what a CSV cell or a JSON scalar may be. */
export type AttributeValue = string | number | boolean | null;

/** An address normalised: its display form, normalised form and de-duplication key. */
export interface NormalisedAddress {
  /** As given, trimmed (the display form). */
  given: string;
  /** Trimmed, domain lower-cased and in ASCII (IDN), local part as written. */
  address: string;
  /** The whole normalised address lower-cased: one contact (or suppression) per key. */
  key: string;
  /** The display name when the address was given as `Name <addr@example.com>`. */
  name?: string;
}

/**
 * Normalises an address (`addr@example.com` or `Name <addr@example.com>`), or says why it is
 * not one. The domain is lower-cased and converted to ASCII (`élan.fr` -> `xn--lan-9la.fr`);
 * the local part is kept as written in `address` and lower-cased in `key`, because mailbox
 * providers treat it case-insensitively in practice even though RFC 5321 allows otherwise.
 */
export function normaliseAddress(input: string): NormalisedAddress | { problem: string } {
  const given = input.trim();
  if (given === '') return { problem: 'has no address' };
  const parsed = parseMailbox(given);
  if ('problem' in parsed) return { problem: parsed.problem };
  const at = parsed.address.lastIndexOf('@');
  const local = parsed.address.slice(0, at);
  const domain = parsed.address.slice(at + 1).toLowerCase();
  const ascii = domain.startsWith('[') ? domain : domainToASCII(domain);
  if (ascii === '') return { problem: 'has an invalid domain (after the @)' };
  const address = `${local}@${ascii}`;
  return { given, address, key: address.toLowerCase(), ...(parsed.name ? { name: parsed.name } : {}) };
}

/** The de-duplication key of an address (its normalised form lower-cased; the input lower-cased when invalid). */
export function addressKey(input: string): string {
  const normalised = normaliseAddress(input);
  return 'problem' in normalised ? input.trim().toLowerCase() : normalised.key;
}

/** Why a text field from outside is refused (the text rule, the size bound), or undefined. */
export function fieldProblem(value: string): string | undefined {
  const at = findForbiddenChar(value);
  if (at !== -1)
    return `contains ${describeForbiddenChar(value, at)} at position ${at}; text may not contain NUL or unpaired surrogates`;
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_FIELD_BYTES) return `is over 10 KB (${bytes} bytes)`;
  return undefined;
}

/** A contact as an import hands it over, before validation. */
export interface ContactInput {
  address: string;
  name?: string | null | undefined;
  attributes?: Record<string, AttributeValue> | undefined;
}

/** A contact validated, ready to store. */
export interface ContactDraft {
  given: string;
  address: string;
  key: string;
  name: string | null;
  attributes: Record<string, AttributeValue>;
}

/** One problem of one row: the field and what is wrong. */
export interface RowProblem {
  field: string;
  message: string;
}

function attributesProblem(attributes: Record<string, AttributeValue>): RowProblem | undefined {
  const keys = Object.keys(attributes);
  if (keys.length > MAX_ATTRIBUTES)
    return { field: 'attributes', message: `has more than ${MAX_ATTRIBUTES} attributes` };
  for (const key of keys) {
    const keyProblem = fieldProblem(key);
    if (keyProblem) return { field: 'attributes', message: `has a key that ${keyProblem}` };
    const value = attributes[key];
    if (typeof value === 'string') {
      const problem = fieldProblem(value);
      if (problem) return { field: key, message: problem };
    } else if (typeof value === 'number' && !Number.isFinite(value)) {
      return { field: key, message: 'is not a finite number' };
    }
  }
  if (Buffer.byteLength(JSON.stringify(attributes), 'utf8') > MAX_ATTRIBUTES_BYTES)
    return { field: 'attributes', message: 'are over 64 KB as JSON' };
  return undefined;
}

/**
 * Validates one contact: the address (core/email-address.ts), the text rule (core/text.ts) and
 * the bounds of every field. `fields` names the address and name fields in the problems (the
 * CSV's column titles, or `address` and `name`).
 */
export function validateContact(
  input: ContactInput,
  fields: { address: string; name: string },
): ContactDraft | RowProblem {
  const addressText = fieldProblem(input.address);
  if (addressText) return { field: fields.address, message: addressText };
  const normalised = normaliseAddress(input.address);
  if ('problem' in normalised) return { field: fields.address, message: normalised.problem };
  const written = input.name ?? null;
  if (written !== null) {
    const problem = fieldProblem(written);
    if (problem) return { field: fields.name, message: problem };
  }
  const name = written !== null && written.trim() !== '' ? written.trim() : (normalised.name ?? null);
  const attributes = input.attributes ?? {};
  const problem = attributesProblem(attributes);
  if (problem) return problem;
  return { given: normalised.given, address: normalised.address, key: normalised.key, name, attributes };
}

/** How an import treats a contact already in the list. */
export type OnDuplicate = 'update' | 'skip';

/** A contact's changeable fields. */
export interface ContactFields {
  given: string;
  name: string | null;
  attributes: Record<string, AttributeValue>;
}

/**
 * What a contact becomes when an import meets it again: `update` takes the row's display
 * address, its name when it has one, and its attributes over the stored ones (keys the row
 * does not have are kept); `skip` leaves it. `changed` says whether anything differs.
 */
export function mergeContact(
  stored: ContactFields,
  row: ContactDraft,
  onDuplicate: OnDuplicate,
): ContactFields & { changed: boolean } {
  const kept = { given: stored.given, name: stored.name, attributes: stored.attributes };
  if (onDuplicate === 'skip') return { ...kept, changed: false };
  const merged = {
    given: row.given,
    name: row.name ?? stored.name,
    attributes: { ...stored.attributes, ...row.attributes },
  };
  const changed =
    merged.given !== stored.given ||
    merged.name !== stored.name ||
    JSON.stringify(merged.attributes) !== JSON.stringify(stored.attributes);
  return { ...merged, changed };
}

/** One bad row of an import: the physical line where its record starts (CSV) or its index (JSON). */
export interface ImportError {
  line?: number;
  index?: number;
  field: string;
  message: string;
}

/** The answer of every import: exactly what was and was not imported. */
export interface ImportReport {
  /** The encoding the CSV was read with (null for JSON). */
  encoding: 'utf-8' | 'latin1' | null;
  /** The CSV field delimiter (null for JSON). */
  delimiter: string | null;
  /** Data rows read (header and blank lines not counted) = imported + updated + unchanged + duplicatesInFile + invalid. */
  rows: number;
  /** New contacts. */
  imported: number;
  /** Contacts already in the list that the row changed (onDuplicate=update). */
  updated: number;
  /** Contacts already in the list left as they were (the same, or onDuplicate=skip). */
  unchanged: number;
  /** Rows whose address appeared earlier in the same file or request (the first one is kept). */
  duplicatesInFile: number;
  /** Rows refused, none of them imported. */
  invalid: number;
  /** The first 1,000 refused rows. */
  errors: ImportError[];
  errorsTruncated: boolean;
}

/** An empty report. */
export function emptyReport(encoding: ImportReport['encoding'], delimiter: string | null): ImportReport {
  return {
    encoding,
    delimiter,
    rows: 0,
    imported: 0,
    updated: 0,
    unchanged: 0,
    duplicatesInFile: 0,
    invalid: 0,
    errors: [],
    errorsTruncated: false,
  };
}

/** Records a refused row in `report`. */
export function recordError(report: ImportReport, error: ImportError): void {
  report.invalid += 1;
  if (report.errors.length < MAX_REPORTED_ERRORS) report.errors.push(error);
  else report.errorsTruncated = true;
}

// --- schemas -----------------------------------------------------------------------------

/** A list's settings: a name (unique) and a description. */
export interface ListSettings {
  name: string;
  description?: string;
}

export const listCreateSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(200).describe('Unique among lists.'),
    description: z.string().max(2000).optional(),
  })
  .meta({ examples: [{ name: 'Members 2026', description: 'Everyone who paid their dues' }] });
export type ListInput = z.infer<typeof listCreateSchema>;

export const listPatchSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(200).optional(),
    description: z.string().max(2000).optional(),
  })
  .meta({ examples: [{ description: 'Members who paid' }] });
export type ListPatch = z.infer<typeof listPatchSchema>;

const attributeValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const contactInputSchema = z.strictObject({
  address: z.string().max(40_000).describe('`addr@example.com` or `Name <addr@example.com>`.'),
  name: z.string().max(40_000).nullable().optional(),
  attributes: z.record(z.string().max(200), attributeValue).optional(),
});

export const contactsImportSchema = z
  .strictObject({
    contacts: z.array(contactInputSchema).min(1).max(MAX_JSON_CONTACTS),
    onDuplicate: z.enum(['update', 'skip']).default('update'),
  })
  .meta({
    examples: [
      {
        contacts: [
          { address: 'Marie Curie <marie@example.com>', attributes: { city: 'Paris', member: true } },
          { address: 'pierre@example.com', name: 'Pierre Curie' },
        ],
      },
    ],
  });
export type ContactsImport = z.infer<typeof contactsImportSchema>;

export const suppressionCreateSchema = z
  .strictObject({
    address: z.string().min(1).max(320),
    reason: z.enum(SUPPRESSION_REASONS).default('manual'),
    source: z.string().min(1).max(100).default('api'),
    detail: z.string().max(2000).optional(),
  })
  .meta({ examples: [{ address: 'nomore@example.com', detail: 'asked by phone' }] });
export type SuppressionInput = z.infer<typeof suppressionCreateSchema>;
