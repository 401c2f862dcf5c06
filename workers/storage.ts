#!/usr/bin/env node
/** The storage role alone (needs DIM_REDIS_URL). Same settings as workers/station.ts. */
import { runStation } from './station.ts';

runStation(['storage']);
