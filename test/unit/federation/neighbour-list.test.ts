import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config/load-config.ts';
import {
  NeighbourListError,
  mergeNeighbours,
  parseNeighbourString,
  parseStationsFile,
} from '../../../src/federation/neighbour-list.ts';

const S1 = 'gsp-s001@x5Zh9ixt8ECr59XLye1y5WWfaX4fcoaaSC';
const S2 = 'gsp-s002@wpjUWg1oYDnkHh74tHQFPxii6q9j3ymnyW';

describe('neighbour list', () => {
  it('parses DIM_NEIGHBORS pairs, IPv6 in brackets, and refuses anything else with a message', () => {
    assert.deepEqual(parseNeighbourString(` ${S1}=10.0.0.1:9394 , ${S2}=[::1]:9395,`), [
      { id: S1, host: '10.0.0.1', port: 9394 },
      { id: S2, host: '::1', port: 9395 },
    ]);
    assert.throws(() => parseNeighbourString(`${S1}@10.0.0.1:9394`), NeighbourListError);
    assert.throws(() => parseNeighbourString(`${S1}=h:0`), /port must be 1..65535/);
    assert.throws(() => parseNeighbourString(`nobody=h:1`), /station ID must be name@address/);
  });

  it("reads the reference's stations file (id / ID / did, default port 9394)", () => {
    const file = {
      name: 'GSP',
      ID: 'gsp@everywhere',
      stations: [
        { host: 'a.example', port: 9394, id: S1, desc: 'one' },
        { host: 'b.example', ID: S2 },
      ],
    };
    assert.deepEqual(parseStationsFile(file, 'f'), [
      { id: S1, host: 'a.example', port: 9394 },
      { id: S2, host: 'b.example', port: 9394 },
    ]);
    assert.throws(() => parseStationsFile({ stations: [{ id: S1 }] }, 'f'), /host missing/);
  });

  it('merges sources (later wins) and drops this station by ID or by its own host:port', () => {
    const merged = mergeNeighbours(
      [
        [{ id: S1, host: 'old', port: 1 }],
        [
          { id: S1, host: 'new', port: 2 },
          { id: S2, host: 'me', port: 9394 },
        ],
      ],
      { id: 'x@y', host: 'me', port: 9394 },
    );
    assert.deepEqual(merged, [{ id: S1, host: 'new', port: 2 }]);
  });

  it('loadConfig merges the config file, the stations file and DIM_NEIGHBORS; bad entries are ConfigErrors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dim-fed-config-'));
    writeFileSync(
      join(dir, 'stations.json'),
      JSON.stringify({ stations: [{ host: 's', port: 7, did: S2 }] }),
    );
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ neighbors: [{ id: S1, host: 'f', port: 1 }], stationsFile: 'stations.json' }),
    );
    const config = loadConfig(
      { DIM_CONFIG_FILE: 'config.json', DIM_NEIGHBORS: `${S1}=e:2`, DIM_FEDERATION_QUEUE_LIMIT: '5' },
      dir,
    );
    assert.deepEqual(config.neighbors, [
      { id: S1, host: 'e', port: 2 },
      { id: S2, host: 's', port: 7 },
    ]);
    assert.equal(config.federationQueueLimit, 5);
    assert.equal(loadConfig({}, dir).neighbors.length, 0);
    assert.throws(() => loadConfig({ DIM_NEIGHBORS: 'junk' }, dir), ConfigError);
    assert.throws(() => loadConfig({ DIM_STATIONS_FILE: 'missing.json' }, dir), ConfigError);
  });
});
