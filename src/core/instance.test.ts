import { describe, expect, it } from 'vitest';
import { leaseIdentity, stableInstanceId } from './instance.js';

describe('leaseIdentity', () => {
  const dead = () => false;

  it('writes the owner as instance id, #, run id, and keeps the instance id across runs', () => {
    const instanceId = stableInstanceId('/var/lib/facteur');
    const first = leaseIdentity(instanceId, { pid: 41 });
    const second = leaseIdentity(instanceId, { pid: 41 });
    expect(instanceId).toMatch(/:\/var\/lib\/facteur$/);
    expect(first.owner).toMatch(/#41\.[0-9a-f]{12}$/);
    expect(first.owner.startsWith(first.ownerPrefix)).toBe(true);
    expect(first.ownerPrefix).toBe(`${instanceId}#`);
    expect(second.owner).not.toBe(first.owner);
  });

  it('recognises an earlier run of the same instance whose process is gone', () => {
    const earlier = leaseIdentity('host:/data', { pid: 100 });
    const now = leaseIdentity('host:/data', { pid: 200, isProcessAlive: dead });
    expect(now.isEarlierRun(earlier.owner)).toBe(true);
    expect(now.isEarlierRun(now.owner)).toBe(false);
  });

  it('takes the same pid for an earlier run (a container restarts with the same pid)', () => {
    const earlier = leaseIdentity('host:/data', { pid: 1 });
    const now = leaseIdentity('host:/data', { pid: 1, isProcessAlive: () => true });
    expect(now.isEarlierRun(earlier.owner)).toBe(true);
  });

  it('leaves alone a run of the same instance whose process is alive on this host', () => {
    const other = leaseIdentity('host:/data', { pid: 300 });
    const now = leaseIdentity('host:/data', { pid: 200, isProcessAlive: (pid) => pid === 300 });
    expect(now.isEarlierRun(other.owner)).toBe(false);
  });

  it('never claims another instance, a longer or shorter id, or an unknown owner format', () => {
    const now = leaseIdentity('host:/data', { pid: 200, isProcessAlive: dead });
    for (const other of [
      leaseIdentity('host:/data2', { pid: 1 }).owner,
      leaseIdentity('other:/data', { pid: 1 }).owner,
      leaseIdentity('host:/dat', { pid: 1 }).owner,
      leaseIdentity('host:/data#x', { pid: 1 }).owner,
      'HOST:/data#1.0123456789ab',
      'host:/data#',
      'host:/data#1.xyz',
      'host:/data#1.0123456789ab#1.0123456789ab',
      'host:123:0123456789ab', // an engine's owner before instance ids
    ]) {
      expect(now.isEarlierRun(other), other).toBe(false);
    }
  });

  it('takes a bare instance id as an earlier run (mailbox leases written before run ids)', () => {
    expect(leaseIdentity('host:/data').isEarlierRun('host:/data')).toBe(true);
  });

  it('sees real processes: the test process is alive, a finished pid is not', () => {
    const now = leaseIdentity('host:/data', { pid: 1 });
    expect(now.isEarlierRun(`host:/data#${process.pid}.0123456789ab`)).toBe(false);
    expect(now.isEarlierRun('host:/data#99999999.0123456789ab')).toBe(true); // above Linux's pid limit
  });
});
