import type { components } from '../../generated/openapi.js';
import type { Transcription } from './store.js';

export type ContentFormat = 'txt' | 'srt' | 'vtt' | 'json';
export type TranscriptionContent = components['schemas']['TranscriptionContent'];

type Cue = { start: number; end: number; text: string };

/** `HH:MM:SS,mmm` (SubRip) or `HH:MM:SS.mmm` (WebVTT), hours not wrapping at 24. */
function cueTime(seconds: number, separator: ',' | '.'): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}${separator}${pad(ms % 1000, 3)}`;
}

/** The segments as cues; without segments (timestamps `none`), one cue spanning the whole audio. */
function cuesOf(t: Transcription): Cue[] {
  if (t.segments.length) return t.segments.map((s) => ({ start: s.start, end: s.end, text: s.text.trim() }));
  return [{ start: 0, end: t.durationSeconds ?? 0, text: (t.text ?? '').trim() }];
}

/** A cue's text may not hold an empty line, which would end the cue early: blank lines are dropped. */
const cueText = (text: string) =>
  text
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .join('\n');

/** A succeeded transcription in the format asked for: the body and its content type. */
export function renderContent(t: Transcription, format: ContentFormat): { body: string | TranscriptionContent; contentType: string } {
  switch (format) {
    case 'json':
      return {
        body: { text: t.text ?? '', language: t.language, durationSeconds: t.durationSeconds, segments: t.segments, words: t.words },
        contentType: 'application/json',
      };
    case 'srt':
      return {
        body: cuesOf(t)
          .map((c, i) => `${i + 1}\n${cueTime(c.start, ',')} --> ${cueTime(c.end, ',')}\n${cueText(c.text)}\n\n`)
          .join(''),
        // SubRip has no registered type: text/plain, as OpenAI sends it, reads as text everywhere.
        contentType: 'text/plain; charset=utf-8',
      };
    case 'vtt':
      return {
        body: `WEBVTT\n\n${cuesOf(t)
          .map((c) => `${cueTime(c.start, '.')} --> ${cueTime(c.end, '.')}\n${cueText(c.text).replace(/-->/g, '->')}\n\n`)
          .join('')}`,
        contentType: 'text/vtt; charset=utf-8',
      };
    default:
      return { body: `${t.text ?? ''}\n`, contentType: 'text/plain; charset=utf-8' };
  }
}
