/**
 * Markdown-aware chunking. A document is cut into sections at its ATX headings (each chunk keeps
 * the headings above it as `headingPath`), a section into blocks (paragraphs and code fences), and
 * a block too long for one chunk into sentences, then runs of words. Chunks are packed from whole
 * units up to `maxTokens` and start with the previous chunk's last units up to `overlapTokens`.
 * Every chunk is a slice of the document: `text === document.slice(charStart, charEnd)`, so a hit
 * can be cited and checked. A code fence is never split, even when it alone exceeds `maxTokens`.
 */

export type ChunkingOptions = { maxTokens: number; overlapTokens: number };

export type Chunk = {
  position: number;
  text: string;
  charStart: number;
  charEnd: number;
  headingPath: string[];
  tokenCount: number;
};

/** A range of the document that a chunk takes whole. */
type Unit = { start: number; end: number; tokens: number };

type Section = { headingPath: string[]; blocks: (Unit & { code: boolean })[] };

const WORD = /\S+/g;
const HEADING = /^(#{1,6})[ \t]+(.*?)[ \t#]*$/;
const FENCE = /^[ ]{0,3}(`{3,}|~{3,})/;
const SENTENCE = /[^.!?\n]*(?:[.!?]+|\n|$)/g;

/** Tokens are estimated as ceil(words × 1.3), the usual ratio of English BPE tokens to words. */
export function estimateTokens(text: string): number {
  return Math.ceil((text.match(WORD)?.length ?? 0) * 1.3);
}

export function chunkMarkdown(text: string, options: ChunkingOptions): Chunk[] {
  const chunks: Chunk[] = [];
  for (const section of sections(text)) {
    const units = section.blocks.flatMap((block) => (block.code || block.tokens <= options.maxTokens ? [block] : splitBlock(text, block, options.maxTokens)));
    for (const [start, end] of pack(units, options)) {
      const charStart = units[start]!.start;
      const charEnd = units[end]!.end;
      const slice = text.slice(charStart, charEnd);
      chunks.push({ position: chunks.length, text: slice, charStart, charEnd, headingPath: section.headingPath, tokenCount: estimateTokens(slice) });
    }
  }
  return chunks;
}

/** Lines grouped into blocks under their heading path; blank lines end a paragraph, fences are kept whole. */
function sections(text: string): Section[] {
  const result: Section[] = [];
  const path: { level: number; title: string }[] = [];
  let current: Section = { headingPath: [], blocks: [] };
  let block: { start: number; end: number; code: boolean } | undefined;
  let fence: string | undefined;
  const close = () => {
    if (block) current.blocks.push({ ...block, tokens: estimateTokens(text.slice(block.start, block.end)) });
    block = undefined;
  };
  let offset = 0;
  for (const line of text.split('\n')) {
    const start = offset;
    const end = start + line.length;
    offset = end + 1;
    if (fence !== undefined) {
      block = { start: block?.start ?? start, end, code: true };
      if (line.trimStart().startsWith(fence) && line.trim().replace(/[`~]/g, '') === '') {
        fence = undefined;
        close();
      }
      continue;
    }
    const opening = FENCE.exec(line);
    if (opening) {
      close();
      fence = opening[1]!;
      block = { start, end, code: true };
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      close();
      if (current.blocks.length > 0) result.push(current);
      const level = heading[1]!.length;
      while (path.length > 0 && path[path.length - 1]!.level >= level) path.pop();
      path.push({ level, title: heading[2]! });
      current = { headingPath: path.map((h) => h.title), blocks: [] };
      block = { start, end, code: false };
      continue;
    }
    if (line.trim() === '') {
      // A heading stays with the paragraph under it rather than becoming a chunk of its own.
      if (block && !HEADING.test(text.slice(block.start, block.end))) close();
      continue;
    }
    block = { start: block?.start ?? start, end, code: false };
  }
  close();
  if (current.blocks.length > 0) result.push(current);
  return result;
}

/** Sentences of a block, and runs of words for a sentence still longer than maxTokens. */
function splitBlock(text: string, block: Unit, maxTokens: number): Unit[] {
  const units: Unit[] = [];
  const body = text.slice(block.start, block.end);
  for (const match of body.matchAll(SENTENCE)) {
    const sentence = trimmed(block.start + match.index, match[0]);
    if (!sentence) continue;
    if (sentence.tokens <= maxTokens) {
      units.push(sentence);
      continue;
    }
    const wordsPerUnit = Math.max(1, Math.floor(maxTokens / 1.3));
    const words = [...text.slice(sentence.start, sentence.end).matchAll(WORD)];
    for (let i = 0; i < words.length; i += wordsPerUnit) {
      const first = words[i]!;
      const last = words[Math.min(i + wordsPerUnit, words.length) - 1]!;
      const start = sentence.start + first.index;
      const end = sentence.start + last.index + last[0].length;
      units.push({ start, end, tokens: estimateTokens(text.slice(start, end)) });
    }
  }
  return units;
}

function trimmed(offset: number, raw: string): Unit | undefined {
  const lead = raw.length - raw.trimStart().length;
  const value = raw.trim();
  if (value === '') return undefined;
  return { start: offset + lead, end: offset + lead + value.length, tokens: estimateTokens(value) };
}

/** Index ranges [first, last] of units per chunk: greedy up to maxTokens, each starting with the previous one's overlap. */
function pack(units: Unit[], { maxTokens, overlapTokens }: ChunkingOptions): [number, number][] {
  const ranges: [number, number][] = [];
  let start = 0;
  while (start < units.length) {
    let end = start;
    let tokens = units[start]!.tokens;
    while (end + 1 < units.length && tokens + units[end + 1]!.tokens <= maxTokens) tokens += units[++end]!.tokens;
    ranges.push([start, end]);
    if (end === units.length - 1) break;
    let next = end + 1;
    let overlap = 0;
    while (next - 1 > start && overlap + units[next - 1]!.tokens <= overlapTokens && overlap + units[next - 1]!.tokens + units[end + 1]!.tokens <= maxTokens) {
      overlap += units[--next]!.tokens;
    }
    start = next;
  }
  return ranges;
}
