import type { Timestamps, TranscriptionSegment, TranscriptionWord } from './store.js';

/** What a `verbose_json` answer says, checked and made printable; `undefined` when it is not a transcription. */
export type VerboseTranscript = {
  text: string;
  language: string | null;
  durationSeconds: number | null;
  segments: TranscriptionSegment[];
  words: TranscriptionWord[] | null;
};

const MAX_SECONDS = 1_000_000;
const MAX_LANGUAGE = 64;

// eslint-disable-next-line no-control-regex -- the class names the control characters stored text may not hold
const printable = (text: string) => text.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '\ufffd');
const seconds = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? Math.min(Math.max(value, 0), MAX_SECONDS) : undefined);

/**
 * Reads OpenAI's `verbose_json` transcription: the text, the language, the duration, and the
 * segments and words the job asked for (`timestamps`). Segments or words that are not well formed
 * are dropped rather than failing a transcription whose text is there.
 */
export function readVerboseJson(body: Buffer, timestamps: Timestamps): VerboseTranscript | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  const answer = parsed as { text?: unknown; language?: unknown; duration?: unknown; segments?: unknown; words?: unknown } | null;
  if (typeof answer !== 'object' || answer === null || typeof answer.text !== 'string') return undefined;
  const segments =
    timestamps === 'none' || !Array.isArray(answer.segments)
      ? []
      : (answer.segments as { start?: unknown; end?: unknown; text?: unknown }[]).flatMap((s, i) => {
          const start = seconds(s.start);
          const end = seconds(s.end);
          return start === undefined || end === undefined || typeof s.text !== 'string' ? [] : [{ id: i, start, end, text: printable(s.text.trim()) }];
        });
  const words =
    timestamps !== 'word'
      ? null
      : (Array.isArray(answer.words) ? (answer.words as { start?: unknown; end?: unknown; word?: unknown }[]) : []).flatMap((w) => {
          const start = seconds(w.start);
          const end = seconds(w.end);
          return start === undefined || end === undefined || typeof w.word !== 'string' ? [] : [{ word: printable(w.word.trim()), start, end }];
        });
  const language = typeof answer.language === 'string' && answer.language.trim() ? printable(answer.language.trim()).slice(0, MAX_LANGUAGE) : null;
  return { text: printable(answer.text.trim()), language, durationSeconds: seconds(answer.duration) ?? null, segments, words };
}
