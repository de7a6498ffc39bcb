/** A clock that is behind (trial 13): messages name this machine's time and the clock, never the CA bundle. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { ErrorCode } from '../../src/errors.js';
import { verifyIssued } from '../../src/execute/verify.js';
import { acmeError } from '../../src/issuers/acme/errors.js';
import { AcmeConnectionError } from '../../src/issuers/acme/transport.js';
import type { ResolvedCertificate } from '../../src/manifest/types.js';
import { clockBehindHint, notYetValidText } from '../../src/policy/clock.js';
import { fixedClock } from '../../src/runtime/clock.js';
import { verifyChain } from '../../src/x509/chain.js';
import { tempDir } from '../harness/process.js';
import { createCa, createLeaf } from '../harness/tls.js';

const NOW = new Date('2026-11-30T17:32:37.250Z');

describe('clock behind', () => {
  test('the words name the notBefore, how far ahead it is and this machine time, in UTC to the second', () => {
    assert.equal(
      notYetValidText(new Date('2026-11-30T17:42:37Z'), NOW),
      "not valid before 2026-11-30T17:42:37Z, 9m 59s ahead of this machine's clock (2026-11-30T17:32:37Z UTC)",
    );
    assert.equal(
      clockBehindHint(NOW),
      "this machine's clock says 2026-11-30T17:32:37Z (UTC); this machine's clock is probably behind: check the clock and its time sync (timedatectl status; NTP)",
    );
    assert.doesNotMatch(clockBehindHint(), /says/);
  });

  test('an ACME server whose TLS certificate is not valid yet: the clock, not caBundle', () => {
    const error = acmeError(
      new AcmeConnectionError('CERT_NOT_YET_VALID', 'certificate is not yet valid', 'https://ca.test/dir'),
      {
        issuerName: 'le',
        directoryUrl: 'https://ca.test/dir',
        step: 'fetching the directory',
        certName: 'web',
        clock: fixedClock(NOW),
      },
    );
    assert.equal(error.code, ErrorCode.issuerUnavailable);
    assert.match(error.oneLine, /not valid yet by this machine's clock \(CERT_NOT_YET_VALID\)/);
    assert.match(error.oneLine, /this machine's clock says 2026-11-30T17:32:37Z \(UTC\)/);
    assert.match(error.oneLine, /timedatectl/);
    assert.doesNotMatch(error.oneLine, /caBundle/);
  });

  test('an issued certificate, or its chain, not valid yet: VERIFY_FAILED naming the clock', async () => {
    const tmp = await tempDir();
    try {
      const ca = await createCa(tmp.path);
      const leaf = await createLeaf(ca, tmp.path, { names: ['web.example.test'] });
      const entry = { name: 'web', domains: ['web.example.test'] } as unknown as ResolvedCertificate;
      const notBefore = new Date(new X509Certificate(leaf.certPem).validFrom);
      const bundle = { certPem: leaf.certPem, chainPem: ca.certPem, keyPem: leaf.keyPem };
      // Ten minutes behind: beyond the 5-minute tolerance for the leaf and for its chain.
      const behind = new Date(notBefore.getTime() - 10 * 60_000);
      assert.throws(
        () => verifyIssued(entry, bundle, behind, undefined),
        (error: Error & { code?: string; oneLine?: string }) => {
          assert.equal(error.code, ErrorCode.verifyFailed);
          assert.match(
            error.oneLine ?? '',
            /the issued certificate was rejected: it is not valid before .*, 10m ahead of this machine's clock \(.* UTC\)/,
          );
          assert.match(error.oneLine ?? '', /clock is probably behind: check the clock .*timedatectl/);
          assert.match(error.oneLine ?? '', /back off/);
          return true;
        },
      );
      const chain = verifyChain(leaf.certPem, ca.certPem, undefined, behind, 0);
      assert.equal(chain.ok, false);
      assert.equal(chain.ok ? undefined : chain.notBefore?.getTime(), notBefore.getTime());
      // Within the tolerance: accepted.
      assert.ok(verifyIssued(entry, bundle, new Date(notBefore.getTime() - 60_000), undefined));
    } finally {
      await tmp.remove();
    }
  });
});
