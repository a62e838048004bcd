import { migrateToLatest, openStore } from '../core/db/index.js';
import { commandLogger, configOrExit, print } from './shared.js';

/** `facteur migrate`: applies pending database migrations. */
export async function migrateCommand(): Promise<number> {
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
}
