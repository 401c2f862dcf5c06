#!/usr/bin/env node
/**
 * Station identity tool.
 *   node workers/identity.ts create --out FILE [--name NAME] [--host HOST] [--port PORT] [--title TEXT] [--rsa-bits N]
 *   node workers/identity.ts show FILE
 *   node workers/identity.ts update FILE [--host HOST] [--port PORT] [--title TEXT]
 * `create` refuses to overwrite an existing file and prints the new station ID on stdout.
 * `update` re-signs the visa with a new public host / port (same ID and keys) and replaces the file
 * atomically; restart the station (every gateway) afterwards so that clients get the new visa.
 */
import { parseArgs } from 'node:util';
import { createStationIdentity, visaEndpoint, withVisaEndpoint } from '../src/identity/station-identity.ts';
import {
  KeyFileExistsError,
  readKeyFile,
  replaceKeyFile,
  writeKeyFile,
} from '../src/identity/station-key-file.ts';

const USAGE = `usage:
  identity create --out FILE [--name NAME] [--host HOST] [--port PORT] [--title TEXT] [--rsa-bits N]
  identity show FILE
  identity update FILE [--host HOST] [--port PORT] [--title TEXT]`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      name: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      title: { type: 'string' },
      'rsa-bits': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, file] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  if (command === 'create') {
    if (!values.out) {
      process.stderr.write(`--out is required\n${USAGE}\n`);
      return 2;
    }
    const port = values.port === undefined ? undefined : Number(values.port);
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
      process.stderr.write('--port must be 1..65535\n');
      return 2;
    }
    const rsaBits = values['rsa-bits'] === undefined ? undefined : Number(values['rsa-bits']);
    if (rsaBits !== undefined && !(Number.isInteger(rsaBits) && rsaBits >= 1024 && rsaBits <= 8192)) {
      process.stderr.write('--rsa-bits must be 1024..8192\n');
      return 2;
    }
    const identity = createStationIdentity({
      name: values.name,
      host: values.host,
      port,
      title: values.title,
      rsaBits,
      now: Date.now() / 1000,
    });
    try {
      await writeKeyFile(values.out, identity);
    } catch (err) {
      if (err instanceof KeyFileExistsError) {
        process.stderr.write(`${err.message}\n`);
        return 1;
      }
      throw err;
    }
    process.stdout.write(`${identity.id.string}\n`);
    return 0;
  }
  if (command === 'update' && file !== undefined) {
    if (values.host === undefined && values.port === undefined && values.title === undefined) {
      process.stderr.write(`update needs --host, --port or --title\n${USAGE}\n`);
      return 2;
    }
    const port = values.port === undefined ? undefined : Number(values.port);
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
      process.stderr.write('--port must be 1..65535\n');
      return 2;
    }
    if (values.host !== undefined && !/^[A-Za-z0-9.:[\]-]{1,253}$/.test(values.host)) {
      process.stderr.write('--host must be a host name or an IP address\n');
      return 2;
    }
    const before = await readKeyFile(file);
    const updated = withVisaEndpoint(
      before,
      { host: values.host, port, title: values.title },
      Date.now() / 1000,
    );
    await replaceKeyFile(file, updated);
    const { host: newHost, port: newPort } = visaEndpoint(updated);
    process.stdout.write(
      `${JSON.stringify({ id: updated.id.string, host: newHost ?? null, port: newPort ?? null })}\n`,
    );
    return 0;
  }
  if (command === 'show' && file !== undefined) {
    const identity = await readKeyFile(file);
    process.stdout.write(
      `${JSON.stringify({ id: identity.id.string, meta: identity.meta.toJSON(), visa: identity.visa.toJSON() }, null, 2)}\n`,
    );
    return 0;
  }
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
