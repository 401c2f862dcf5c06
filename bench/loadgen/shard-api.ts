/**
 * A shard is one generator process's part of a scenario (its users, its share of the schedule): an object
 * whose methods the coordinator calls, directly with one process or over IPC with --procs N (shards.ts).
 * Every argument and result is plain data.
 */

/** The methods of a `TrafficParticipant` (traffic-phase.ts), for remote shards. */
export const PARTICIPANT_METHODS = [
  'preparePhase',
  'runPhaseSchedule',
  'phaseStatus',
  'finishPhase',
] as const;

/** How long before a phase starts the coordinator sends its start time to worker processes (ms). */
export const REMOTE_START_LEAD_MS = 150;
