import { describe, expect, it } from 'vitest';
import { isAppError } from '../core/errors.js';
import { parseRole } from './model.js';

describe('parseRole', () => {
  it('takes the three roles, in any case', () => {
    expect(parseRole('viewer')).toBe('viewer');
    expect(parseRole(' Operator ')).toBe('operator');
    expect(parseRole('ADMIN')).toBe('admin');
  });

  it('refuses anything else, naming the field, the expected values and the value given', () => {
    let error: unknown;
    try {
      parseRole('root', '--role');
    } catch (caught) {
      error = caught;
    }
    expect(isAppError(error) && error.code).toBe('VALIDATION_FAILED');
    expect((error as Error).message).toBe('--role must be one of viewer, operator, admin, not "root"');
    expect(isAppError(error) && error.details).toEqual([
      { in: 'argument', field: '--role', message: 'expected one of viewer, operator, admin, not "root"' },
    ]);
  });
});
