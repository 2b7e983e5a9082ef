import { defineStateMachine } from '../state-machine.js';

/**
 * A transcription job's statuses: queued until a worker takes it, processing while its audio is
 * with the provider (a worker that crashed leaves it processing until its lock runs out, then
 * another takes it over; one that stops puts it back in the queue), then succeeded, failed or cancelled for good.
 */
export const transcriptionMachine = defineStateMachine({
  statuses: ['queued', 'processing', 'succeeded', 'failed', 'cancelled'],
  refusal: (action, current) => `Cannot ${action} a transcription that is ${current}.`,
  transitions: {
    start: { from: ['queued', 'processing'], to: 'processing' },
    release: { from: ['processing'], to: 'queued' },
    succeed: { from: ['processing'], to: 'succeeded', event: 'transcription.completed' },
    fail: { from: ['queued', 'processing'], to: 'failed', event: 'transcription.failed' },
    cancel: { from: ['queued', 'processing'], to: 'cancelled' },
    readContent: { from: ['succeeded'], refusal: (current) => `The transcription is ${current}; its content exists once it has succeeded.` },
  },
});

export type TranscriptionStatus = (typeof transcriptionMachine.statuses)[number];
