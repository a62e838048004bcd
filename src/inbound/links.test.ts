import { describe, expect, it } from 'vitest';
import { collectBodyUrls, MAX_LINKS, unescapeHtml } from './links.js';

describe('collectBodyUrls', () => {
  it('finds bare URLs in text and strips trailing punctuation', () => {
    const text =
      'See https://example.com/a. Or (http://example.org/b), "https://example.net/c"! <https://x.test/d>';
    expect(collectBodyUrls(text, null)).toEqual([
      'https://example.com/a',
      'http://example.org/b',
      'https://example.net/c',
      'https://x.test/d',
    ]);
  });

  it('takes href values in double and single quotes, HTML-unescaped, whole', () => {
    const html =
      `<a href="https://example.com/p?a=1&amp;b=2">x</a> <a href='https://example.com/q?c=&#51;&#x34;'>y</a>` +
      ' <a href="https://en.wikipedia.org/wiki/Mail_(disambiguation)">z</a>';
    expect(collectBodyUrls('', html)).toEqual([
      'https://example.com/p?a=1&b=2',
      'https://example.com/q?c=34',
      'https://en.wikipedia.org/wiki/Mail_(disambiguation)',
    ]);
  });

  it('finds bare URLs in the HTML text and unescapes them', () => {
    expect(collectBodyUrls('', '<p>Download: https://dl.example.com/f?x=1&amp;y=2.</p>')).toEqual([
      'https://dl.example.com/f?x=1&y=2',
    ]);
  });

  it('keeps only absolute http(s) URLs', () => {
    const html =
      '<a href="mailto:a@b.c">m</a><a href="/relative">r</a><a href="ftp://x.test/f">f</a><a href="javascript:alert(1)">j</a>';
    expect(collectBodyUrls('ftp://x.test/g http:// nothing', html)).toEqual([]);
  });

  it('de-duplicates in order of first appearance, text first', () => {
    const text = 'https://b.test/ and https://a.test/';
    const html = '<a href="https://a.test/">a</a> <a href="https://c.test/">c</a> https://b.test/';
    expect(collectBodyUrls(text, html)).toEqual(['https://b.test/', 'https://a.test/', 'https://c.test/']);
  });

  it('is case-insensitive on the scheme and the attribute name', () => {
    expect(collectBodyUrls('HTTPS://UPPER.TEST/Path', '<A HREF="Http://Mixed.Test/">x</A>')).toEqual([
      'HTTPS://UPPER.TEST/Path',
      'Http://Mixed.Test/',
    ]);
  });

  it('does not take a scheme glued to a word', () => {
    expect(collectBodyUrls('xhttps://evil.test/ ok', null)).toEqual([]);
  });

  it('caps the number of links', () => {
    const text = Array.from({ length: MAX_LINKS + 50 }, (_, index) => `https://example.com/${index}`).join(
      ' ',
    );
    const links = collectBodyUrls(text, null);
    expect(links).toHaveLength(MAX_LINKS);
    expect(links.at(-1)).toBe(`https://example.com/${MAX_LINKS - 1}`);
  });

  it('survives an unclosed href quote and keeps later links', () => {
    const html = `<a href='broken>${'<a href="https://example.com/x">x</a>'.repeat(3)}`;
    expect(collectBodyUrls('', html)).toEqual(['https://example.com/x']);
  });

  it('handles a 1 MB single-line HTML body', () => {
    const html = '<p>text <a href="https://example.com/long?a=1&amp;b=2">more</a></p>'.repeat(16_000);
    expect(html.length).toBeGreaterThan(1_000_000);
    expect(collectBodyUrls('', html)).toEqual(['https://example.com/long?a=1&b=2']);
  });
});

describe('unescapeHtml', () => {
  it('decodes named, decimal and hex references and leaves unknown ones', () => {
    expect(unescapeHtml('a&amp;b&lt;&gt;&quot;&#39;&#x41;&#66;&unknown;&')).toBe('a&b<>"\'AB&unknown;&');
  });
});
