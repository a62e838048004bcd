import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Certificates made with openssl at test time, in `dir`: a CA, a leaf it signed for 127.0.0.1
 * and localhost (`good`), a leaf it signed for another name (`wrongName`, mail.example.test),
 * and a self-signed certificate for 127.0.0.1. P-256 keys, valid 60 days.
 */

export interface KeyPair {
  key: string;
  cert: string;
}

export interface TestCertificates {
  /** The CA's certificate (PEM), to trust in a client. */
  ca: string;
  good: KeyPair;
  wrongName: KeyPair;
  selfSigned: KeyPair;
}

export function makeTestCertificates(dir: string): TestCertificates {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const read = (name: string) => readFileSync(join(dir, name), 'utf8');
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const days = ['-days', '60'];
  ssl('req', '-x509', ...key, ...days, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=Doctor Test CA');
  const leaf = (name: string, san: string): KeyPair => {
    ssl('req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    const sign = ['-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', ...days];
    ssl('x509', '-req', '-in', `${name}.csr`, ...sign, '-out', `${name}.crt`, '-extfile', `${name}.ext`);
    return { key: read(`${name}.key`), cert: read(`${name}.crt`) };
  };
  const good = leaf('good', 'IP:127.0.0.1,DNS:localhost');
  const wrongName = leaf('wrong', 'DNS:mail.example.test');
  const san = ['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'];
  ssl('req', '-x509', ...key, ...days, '-keyout', 'self.key', '-out', 'self.crt', ...san);
  return {
    ca: read('ca.crt'),
    good,
    wrongName,
    selfSigned: { key: read('self.key'), cert: read('self.crt') },
  };
}
