#!/usr/bin/env node
/** The push role alone: a BullMQ push worker (needs DIM_REDIS_URL). Same settings as workers/station.ts. */
import { runStation } from './station.ts';

runStation(['push']);
