import { describe, expect, it } from 'vitest';
import {
  describeForbiddenChar,
  findForbiddenChar,
  hasForbiddenChars,
  replaceForbiddenChars,
  truncateText,
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

  it('leaves long clean text as it is and finds a character at its very end', () => {
    const long = 'x'.repeat(100_000);
    expect(replaceForbiddenChars(long).text).toBe(long);
    expect(hasForbiddenChars(`${long}\u0000`)).toBe(true);
    expect(findForbiddenChar(`${long}\udfff`)).toBe(100_000);
  });

  it('cuts text without splitting a surrogate pair', () => {
    expect(truncateText('short', 10)).toBe('short');
    expect(truncateText('abcdef', 3)).toBe('abc');
    expect(truncateText('ab\ud83c\udf89', 3)).toBe('ab');
    expect(truncateText('ab\ud83c\udf89', 4)).toBe('ab\ud83c\udf89');
    expect(truncateText('\ud83c\udf89', 1)).toBe('');
    expect(hasForbiddenChars(truncateText('🎉'.repeat(600), 999))).toBe(false);
    expect(truncateText('abc', 0)).toBe('');
  });
});
