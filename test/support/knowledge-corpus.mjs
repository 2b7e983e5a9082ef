// Generated Markdown documents for the knowledge search test and benchmark: each is about a few
// words of its own (drawn from a large pool, so documents sometimes share one) among common words
// every document uses. Seeded, so every run and both databases see the same corpus.

const SYLLABLES = ['ka', 'lo', 'mi', 'ren', 'tas', 'vu', 'zor', 'pel', 'qui', 'bra', 'dun', 'fey', 'gro', 'hal', 'jin', 'mon', 'nar', 'sol', 'tir', 'wex'];

/** mulberry32: small, fast and good enough to pick words. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` documents of about `paragraphs` paragraphs of three sentences each. */
export function knowledgeCorpus(count, { seed = 21, paragraphs = 3 } = {}) {
  const next = random(seed);
  const pick = (list) => list[Math.floor(next() * list.length)];
  const word = (syllables) => Array.from({ length: syllables }, () => pick(SYLLABLES)).join('');
  const common = Array.from({ length: 150 }, () => word(2));
  const rare = [...new Set(Array.from({ length: Math.max(6000, count * 6) }, () => word(4)))];
  return Array.from({ length: count }, (_, i) => {
    const own = Array.from({ length: 6 }, () => pick(rare));
    const sentence = () => `${Array.from({ length: 8 + Math.floor(next() * 8) }, () => (next() < 0.25 ? pick(own) : pick(common))).join(' ')}.`;
    const paragraph = () => Array.from({ length: 3 }, sentence).join(' ');
    const body = Array.from({ length: paragraphs }, (_, p) => (p === 1 ? `## ${pick(common)}\n\n${paragraph()}` : paragraph())).join('\n\n');
    return { name: `doc-${i}`, markdown: `# ${own[0]} ${own[1]}\n\n${body}\n`, own, common: pick(common), metadata: { n: i, shard: i % 4 === 0 ? 'a' : 'b' } };
  });
}
