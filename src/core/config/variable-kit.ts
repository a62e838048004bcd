import { parseInteger } from './parsers.js';
import type { BootVariable } from './variables.js';

/** Small helpers the boot variable tables share (variables.ts, mail-variables.ts, dependency-variables.ts). */

export const variable = <T>(spec: BootVariable<T>): BootVariable<T> => spec;

export const hidePassword = (raw: string): string => raw.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');

export const wholeNumber =
  (min: number, max: number) =>
  (raw: string): number =>
    parseInteger(raw, min, max);

export const DURATION_FORM = 'duration';
