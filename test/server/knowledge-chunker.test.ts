import { describe, expect, it } from 'vitest';
import { chunkMarkdown, estimateTokens } from '../../server/src/resources/knowledge/chunker.js';

const words = (n: number, word = 'lorem') => Array.from({ length: n }, (_, i) => `${word}${i}`).join(' ');

describe('knowledge chunker', () => {
  it('estimates tokens as ceil(words × 1.3)', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('one two three')).toBe(4);
  });

  it('keeps headings as a path and every chunk a slice of the document', () => {
    const doc = '# Guide\n\nIntro text.\n\n## Install\n\nRun the installer.\n\n### Linux\n\nUse apt.\n\n## Usage\n\nCall it.\n';
    const chunks = chunkMarkdown(doc, { maxTokens: 512, overlapTokens: 64 });
    expect(chunks.map((c) => c.headingPath)).toEqual([['Guide'], ['Guide', 'Install'], ['Guide', 'Install', 'Linux'], ['Guide', 'Usage']]);
    expect(chunks[1]!.text).toBe('## Install\n\nRun the installer.');
    for (const chunk of chunks) expect(doc.slice(chunk.charStart, chunk.charEnd)).toBe(chunk.text);
    expect(chunks.map((c) => c.position)).toEqual([0, 1, 2, 3]);
  });

  it('never splits a code fence, even one longer than maxTokens', () => {
    const code = '```js\n' + Array.from({ length: 40 }, (_, i) => `const v${i} = ${i};`).join('\n') + '\n\nstill code\n```';
    const doc = `Before.\n\n${code}\n\nAfter.`;
    const chunks = chunkMarkdown(doc, { maxTokens: 20, overlapTokens: 0 });
    const fenced = chunks.filter((c) => c.text.includes('```'));
    expect(fenced).toHaveLength(1);
    expect(fenced[0]!.text).toContain(code);
    expect(chunks.some((c) => c.text.startsWith('# ') && c.text.includes('const'))).toBe(false);
  });

  it('does not take a heading inside a code fence for a heading', () => {
    const doc = '# Real\n\n```sh\n# a shell comment\n```\n';
    const chunks = chunkMarkdown(doc, { maxTokens: 512, overlapTokens: 0 });
    expect(chunks.every((c) => c.headingPath.join('/') === 'Real')).toBe(true);
  });

  it('splits a long paragraph by sentence, then by word, down to maxTokens, with overlap', () => {
    const sentences = Array.from({ length: 30 }, (_, i) => `Sentence number ${i} has six words.`).join(' ');
    const doc = `${sentences}\n\n${words(200)}`;
    const chunks = chunkMarkdown(doc, { maxTokens: 40, overlapTokens: 10 });
    expect(chunks.length).toBeGreaterThan(10);
    for (const chunk of chunks) {
      expect(chunk.tokenCount).toBeLessThanOrEqual(40);
      expect(doc.slice(chunk.charStart, chunk.charEnd)).toBe(chunk.text);
    }
    // Consecutive chunks overlap: each starts before the previous one ends.
    const prose = chunks.filter((c) => c.text.startsWith('Sentence'));
    for (let i = 1; i < prose.length; i++) expect(prose[i]!.charStart).toBeLessThan(prose[i - 1]!.charEnd);
    // Every word of the document is in some chunk.
    for (const m of doc.matchAll(/\S+/g)) expect(chunks.some((c) => m.index >= c.charStart && m.index < c.charEnd)).toBe(true);
  });

  it('returns no chunks for an empty document', () => {
    expect(chunkMarkdown('', { maxTokens: 10, overlapTokens: 2 })).toEqual([]);
    expect(chunkMarkdown('\n\n  \n', { maxTokens: 10, overlapTokens: 2 })).toEqual([]);
  });
});
