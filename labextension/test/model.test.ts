import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import {
  CredentialsStatus,
  describeStatus,
  formatDuration,
  noticesToShow
} from '../src/model';

function status(over: Partial<CredentialsStatus> = {}): CredentialsStatus {
  return {
    enabled: true,
    s3: { configured: true, expires_in_seconds: 2520, expired: false, bucket: 'user-bob' },
    vault: { configured: true, expires_in_seconds: 3900, expired: false, top_dir: 'users/bob' },
    renewal: { consecutive_failures: 0, last_error: null, last_renewal: null },
    warnings: [],
    ...over
  };
}

test('durations are coarse when far and to the second when close', () => {
  assert.equal(formatDuration(3900), '1 h 05 min');
  assert.equal(formatDuration(2520), '42 min');
  assert.equal(formatDuration(245), '4:05');
  assert.equal(formatDuration(9.7), '0:09');
  assert.equal(formatDuration(-3), '0:00');
});

test('valid credentials show both parts and the soonest expiry, counting down', () => {
  const view = describeStatus(status(), 0);
  assert.equal(view.level, 'ok');
  assert.equal(view.label, 'S3 · Vault · 42 min');
  assert.match(view.title, /^S3: valid for 42 min\nVault: valid for 1 h 05 min\nRenewed automatically/);
  assert.equal(describeStatus(status(), 2520 - 65).label, 'S3 · Vault · 1:05');
});

test('a renewal that keeps failing is a warning while the credentials still hold', () => {
  const view = describeStatus(
    status({
      renewal: { consecutive_failures: 3, last_error: 'could not reach the hub', last_renewal: null }
    }),
    0
  );
  assert.equal(view.level, 'warning');
  assert.equal(view.label, 'S3 · Vault: renewal failing · 42 min');
  assert.match(view.title, /Renewal failed 3 times: could not reach the hub/);
});

test('expired credentials are an error, whether the server or the countdown says so', () => {
  const expired = describeStatus(status({ s3: { configured: true, expires_in_seconds: -5, expired: true } }), 0);
  assert.equal(expired.level, 'error');
  assert.equal(expired.label, 'S3 expired');
  assert.match(expired.title, /Open Connection details/);
  assert.equal(describeStatus(status(), 4000).label, 'S3 & Vault expired');
});

test('the keys a newer server adds are read when present', () => {
  const vaultMissing = describeStatus(
    status({
      vault: { configured: false },
      state: 'waiting',
      missing: [{ part: 'vault', name: 'Vault' }],
      message: 'no Vault credentials yet (Vault refused the login)',
      renewal: { consecutive_failures: 0, next_attempt_in_seconds: 30 }
    }),
    5
  );
  assert.equal(vaultMissing.level, 'error');
  assert.equal(vaultMissing.label, 'Vault unavailable');
  assert.match(vaultMissing.title, /Vault: could not be obtained/);
  assert.match(vaultMissing.title, /no Vault credentials yet \(Vault refused the login\)/);
  assert.match(vaultMissing.title, /Next attempt in 0:25/);
  const s3Late = describeStatus(status({ missing: ['s3'] }), 0);
  assert.equal(s3Late.level, 'warning'); // still valid, but the hub did not give a new one
});

test('a session without credentials, or a server that does not answer, says so', () => {
  assert.equal(describeStatus(status({ enabled: false }), 0).level, 'off');
  const vaultOnly = describeStatus(status({ s3: { configured: false } }), 0);
  assert.equal(vaultOnly.label, 'Vault · 1 h 05 min');
  const down = describeStatus(null, 0, 'HTTP 503');
  assert.equal(down.level, 'error');
  assert.equal(down.title, 'The session did not answer: HTTP 503. Retrying.');
});

test('dismissed notices are not shown again', () => {
  const notices = [
    { id: 'a', kind: 'git-clone-failed', level: 'warning', title: 't', message: 'm' },
    { id: 'b', kind: 'git-clone-failed', level: 'warning', title: 't', message: 'm' }
  ];
  assert.deepEqual(
    noticesToShow(notices, ['a']).map(n => n.id),
    ['b']
  );
});
