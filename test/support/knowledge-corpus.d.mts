export type CorpusDocument = {
  name: string;
  markdown: string;
  /** The words the document is about: two in its title, the rest through its text. */
  own: string[];
  /** One of the words every document may use. */
  common: string;
  metadata: { n: number; shard: 'a' | 'b' };
};

export function knowledgeCorpus(count: number, options?: { seed?: number; paragraphs?: number }): CorpusDocument[];
