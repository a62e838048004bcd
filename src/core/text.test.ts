import { describe, expect, it } from 'vitest';
import {
  describeForbiddenChar,
  findForbiddenChar,
  hasForbiddenChars,
  replaceForbiddenChars,
} from './text.js';

describe('the text rule', () => {
  it('finds NUL and unpaired surrogates, and nothing in clean or paired text', () => {
    expect(findForbiddenChar('plain text, é, 日本')).toBe(-1);
    expect(findForbiddenChar('party \ud83c\udf89 time')).toBe(-1);
    expect(findForbiddenChar('a\u0000b')).toBe(1);
    expect(findForbiddenChar('ab\ud800')).toBe(2);
    expect(findForbiddenChar('\ud800x')).toBe(0);
    expect(findForbiddenChar('x\udc00')).toBe(1);
    expect(findForbiddenChar('\udc00\ud800')).toBe(0);
    expect(hasForbiddenChars('ok')).toBe(false);
    expect(hasForbiddenChars('\u0000')).toBe(true);
  });

  it('describes the character it found', () => {
    expect(describeForbiddenChar('a\u0000', 1)).toBe('NUL (U+0000)');
    expect(describeForbiddenChar('\udbff', 0)).toBe('an unpaired surrogate (U+DBFF)');
  });

  it('replaces each forbidden character with U+FFFD and says whether it did', () => {
    expect(replaceForbiddenChars('clean \ud83c\udf89')).toEqual({
      text: 'clean \ud83c\udf89',
      replaced: false,
    });
    expect(replaceForbiddenChars('a\u0000b\u0000\ud800c\udc00')).toEqual({
      text: 'a\ufffdb\ufffd\ufffdc\ufffd',
      replaced: true,
    });
  });
});
