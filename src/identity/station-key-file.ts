/** Reading and writing the station key file. Writing never overwrites an existing file. */
import { readFile, rename, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { identityFromKeyFile, identityToKeyFile } from './station-identity.ts';
import type { StationIdentity } from './station-identity.ts';

export class KeyFileExistsError extends Error {
  readonly code = 'KEY_FILE_EXISTS';
  constructor(path: string) {
    super(`refusing to overwrite the existing key file ${path}`);
    this.name = 'KeyFileExistsError';
  }
}

/** Write the identity with mode 0600; throws KeyFileExistsError if the file exists. */
export async function writeKeyFile(path: string, identity: StationIdentity): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    await writeFile(path, `${JSON.stringify(identityToKeyFile(identity), null, 2)}\n`, {
      flag: 'wx',
      mode: 0o600,
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new KeyFileExistsError(path);
    throw err;
  }
}

/** Replace an existing key file atomically (a new file beside it, mode 0600, renamed over it). */
export async function replaceKeyFile(path: string, identity: StationIdentity): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(identityToKeyFile(identity), null, 2)}\n`, {
    flag: 'wx',
    mode: 0o600,
  });
  await rename(temporary, path);
}

export async function readKeyFile(path: string): Promise<StationIdentity> {
  return identityFromKeyFile(JSON.parse(await readFile(path, 'utf8')));
}

/**
 * Load the key file, or create a new identity there when it does not exist (first start).
 * Returns whether it was created, so that the caller can print the new station ID.
 */
export async function loadOrCreateKeyFile(
  path: string,
  create: () => StationIdentity,
): Promise<{ identity: StationIdentity; created: boolean }> {
  try {
    return { identity: await readKeyFile(path), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const identity = create();
  try {
    await writeKeyFile(path, identity);
  } catch (err) {
    // Another process created it first (several workers starting at once): use theirs.
    if (err instanceof KeyFileExistsError) return { identity: await readKeyFile(path), created: false };
    throw err;
  }
  return { identity, created: true };
}
