/** Defaults shared by both bus implementations (see ConsumerOptions and TailOptions in message-bus.ts). */
export const BUS_DEFAULTS = {
  /** Entries kept per stream (approximate trimming). */
  maxLen: 1_000_000,
  concurrency: 16,
  blockMs: 1000,
  claimIdleMs: 30_000,
  maxDeliveries: 5,
  batchSize: 64,
  /** How often a tail trims what it has read. */
  tailTrimEveryMs: 5000,
} as const;
