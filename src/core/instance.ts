import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Who holds a lease in the database (a running job's, a mailbox folder's): an instance id that
 * survives restarts, and a run id for this process, written `<instance id>#<pid>.<12 hex>`.
 * A restarted instance recognises the leases of its earlier run and takes them back at once
 * instead of waiting for them to expire: after a crash (kill -9, out of memory) nothing else
 * can be working under them. Leases of another instance id are never taken before they expire.
 */

const SEPARATOR = '#';
const RUN_ID = /^(\d+)\.[0-9a-f]{12}$/;

/**
 * The id of an instance serving from `dataDir` on this host: the same after a restart, different
 * for another host or data directory. Instances sharing a database must differ in one of them.
 */
export function stableInstanceId(dataDir: string): string {
  return `${hostname()}:${dataDir}`;
}

/** This process as a lease owner. */
export interface LeaseIdentity {
  /** The id that survives restarts. */
  readonly instanceId: string;
  /** This run: `<pid>.<12 hex>`. */
  readonly runId: string;
  /** What is written as lease owner: `<instance id>#<run id>`. */
  readonly owner: string;
  /** The start of every owner string of this instance (to search leases by prefix). */
  readonly ownerPrefix: string;
  /**
   * True when `owner` is an earlier run of this instance that cannot be running any more, so its
   * leases may be taken now. False for this run, for other instances, and for a run whose
   * process is alive on this host (the same instance started twice by mistake).
   */
  isEarlierRun(owner: string): boolean;
}

/** Options of {@link leaseIdentity}, for tests. */
export interface LeaseIdentityOptions {
  /** This process's id (default `process.pid`). */
  pid?: number;
  /** Whether a process exists on this host (default: `kill(pid, 0)`). */
  isProcessAlive?: (pid: number) => boolean;
}

/** A new run of `instanceId`. */
export function leaseIdentity(instanceId: string, options: LeaseIdentityOptions = {}): LeaseIdentity {
  const pid = options.pid ?? process.pid;
  const isProcessAlive = options.isProcessAlive ?? processIsAlive;
  const runId = `${pid}.${randomBytes(6).toString('hex')}`;
  const ownerPrefix = `${instanceId}${SEPARATOR}`;
  const owner = `${ownerPrefix}${runId}`;
  return Object.freeze({
    instanceId,
    runId,
    owner,
    ownerPrefix,
    isEarlierRun(other: string): boolean {
      // Mailbox leases written before run ids existed were owned by the bare instance id.
      if (other === instanceId) return true;
      if (!other.startsWith(ownerPrefix)) return false;
      const run = other.slice(ownerPrefix.length);
      const match = RUN_ID.exec(run);
      if (run === runId || !match) return false;
      const otherPid = Number(match[1]);
      // A container's process has the same pid after every restart: that one is gone. Another
      // pid alive on this host may be a second process started on the same data directory:
      // leave its leases to expire (if the pid was merely reused, that only costs the wait).
      return otherPid === pid || !isProcessAlive(otherPid);
    },
  });
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user. ESRCH: no such process.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
