/**
 * The gateway's TLS certificate and key (PEM files), loaded at start and reloaded on demand (SIGHUP, e.g.
 * after a certificate renewal): new connections use the new pair at once, open ones keep theirs. A
 * reload that fails (missing file, key not matching the certificate) keeps the pair in use.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';

export class TlsCertificates {
  readonly certFile: string;
  readonly keyFile: string;
  #context: SecureContext;
  #loadedAt: number;

  /** Throws when the files cannot be read or do not form a valid pair (the station must not start). */
  constructor(certFile: string, keyFile: string) {
    this.certFile = certFile;
    this.keyFile = keyFile;
    this.#context = this.#load();
    this.#loadedAt = Date.now();
  }

  /** The pair in use. */
  get context(): SecureContext {
    return this.#context;
  }

  get loadedAt(): number {
    return this.#loadedAt;
  }

  /** Load the files again; throws (keeping the current pair) when they are not a valid pair. */
  reload(): void {
    this.#context = this.#load();
    this.#loadedAt = Date.now();
  }

  #load(): SecureContext {
    const cert = readFileSync(this.certFile);
    const key = readFileSync(this.keyFile);
    // createSecureContext checks that the key matches the certificate
    return createSecureContext({ cert, key, minVersion: 'TLSv1.2' });
  }
}
