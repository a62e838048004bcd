import type { Clock } from '../core/clock.js';
import type { Store } from '../core/db/index.js';
import { type Activity, type ActivityWindow, buildActivity, windowRange } from './model.js';
import { activityCounts } from './store.js';

/** What the activity series needs: the database every instance writes, and the clock for "now". */
export interface StatsDeps {
  store: Store;
  clock: Clock;
}

/** The activity of `window` up to now: mail, webhook attempts and inbound messages per bucket. */
export async function activity(deps: StatsDeps, window: ActivityWindow): Promise<Activity> {
  const range = windowRange(window, deps.clock.now());
  return buildActivity(range, await activityCounts(deps.store.db, range));
}
