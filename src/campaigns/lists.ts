import {
  SettingsCollection,
  type SettingsDeps,
  type SettingsKind,
  type SettingsRecord,
} from '../core/settings/index.js';
import {
  type ListInput,
  type ListPatch,
  type ListSettings,
  listCreateSchema,
  listPatchSchema,
} from './model.js';

/**
 * Lists of contacts: one kind of runtime setting (core/settings), with a unique name and a
 * description and no secrets. Their contacts are a plain table (store.ts), deleted with the
 * list by the database (`on delete cascade`), because a list may hold far more contacts than a
 * settings record should carry.
 */

/** The notification channel for list changes. */
export const LISTS_CHANNEL = 'lists';

/** A list of contacts. */
export type ContactList = SettingsRecord<ListSettings, Record<string, never>>;

function listKind(): SettingsKind<ListSettings, Record<string, never>, ListInput, ListPatch, ContactList> {
  return {
    noun: 'list',
    table: 'lists',
    path: '/api/lists',
    channel: LISTS_CHANNEL,
    columns: { status: false, secrets: false, position: false },
    createSchema: listCreateSchema,
    patchSchema: listPatchSchema,
    emptySecrets: {},
    prepare: ({ name, description }) => ({
      settings: { name, ...(description !== undefined ? { description } : {}) },
      secrets: {},
      problems: [],
    }),
    toInput: (list) => ({ ...list.settings }),
    exportForm: (list) => ({ ...list.settings }),
  };
}

/** Every list: create, rename, delete (with its contacts). */
export class ListRegistry extends SettingsCollection<
  ListSettings,
  Record<string, never>,
  ListInput,
  ListPatch,
  ContactList
> {
  constructor(deps: SettingsDeps) {
    super(listKind(), deps);
  }
}
