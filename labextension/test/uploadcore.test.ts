import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import {
  errorMessage,
  insideFolder,
  joinPath,
  progressOf,
  shouldFallBack,
  uploadUrl,
  xsrfToken
} from '../src/uploadcore';

test('only folders inside the S3 folder stream their uploads', () => {
  assert.equal(insideFolder('s3/bob-data/in', 's3'), true);
  assert.equal(insideFolder('/s3/bob-data/', 's3/'), true);
  assert.equal(insideFolder('s3', 's3'), true);
  assert.equal(insideFolder('s3x/bob-data', 's3'), false);
  assert.equal(insideFolder('work/s3', 's3'), false);
  assert.equal(insideFolder('', 's3'), false);
  assert.equal(insideFolder('s3/bob-data', null), false);
  assert.equal(insideFolder('anything', ''), false);
  assert.equal(insideFolder('mnt/s3/a', 'mnt/s3'), true);
});

test('the upload URL is under the base URL, each segment encoded once', () => {
  assert.equal(
    uploadUrl('/user/bob/', 's3/bob-data/in/x.csv'),
    '/user/bob/datalab/upload/s3/bob-data/in/x.csv'
  );
  assert.equal(
    uploadUrl('http://127.0.0.1:8888', joinPath('s3/bob data/', 'a#b?c%d é.csv')),
    'http://127.0.0.1:8888/datalab/upload/s3/bob%20data/a%23b%3Fc%25d%20%C3%A9.csv'
  );
  assert.equal(joinPath('', 'x.csv'), 'x.csv');
  assert.equal(joinPath('/s3//b/', 'x.csv'), 's3/b/x.csv');
});

test('the XSRF token is the last _xsrf cookie, as the server reads it', () => {
  assert.equal(xsrfToken('a=1; _xsrf=2|abc|def; b=3'), '2|abc|def');
  assert.equal(xsrfToken('_xsrf=first; other_xsrf=no; _xsrf=second'), 'second');
  assert.equal(xsrfToken('my_xsrf=no'), undefined);
  assert.equal(xsrfToken(''), undefined);
});

test('a missing route or a body-size limit falls back to the chunked upload; other refusals do not', () => {
  for (const status of [404, 405, 413, 501]) {
    assert.equal(shouldFallBack(status), true, String(status));
  }
  for (const status of [0, 201, 400, 403, 411, 500, 502, 503]) {
    assert.equal(shouldFallBack(status), false, String(status));
  }
});

test('the server’s own message is what the user reads, bounded and on one line', () => {
  assert.equal(
    errorMessage(403, 'Forbidden', '{"message": "s3/rodata is read-only", "reason": null}'),
    's3/rodata is read-only'
  );
  assert.equal(errorMessage(400, 'Bad Request', '{"reason": "Bad Request"}'), 'Bad Request');
  assert.equal(errorMessage(503, 'Service Unavailable', '<html>busy</html>'), 'HTTP 503 Service Unavailable');
  assert.equal(errorMessage(502, '', '{"message": "  "}'), 'HTTP 502');
  const long = errorMessage(400, '', JSON.stringify({ message: 'x'.repeat(5000) + '\n\u001b[31m' }), 50);
  assert.equal(long.length, 50);
  assert.ok(long.endsWith('…'));
  assert.equal(errorMessage(400, '', JSON.stringify({ message: 'two\nlines\r\n' })), 'two lines');
  assert.match(errorMessage(0, '', ''), /connection .* lost/);
});

test('progress stays below 1 until the server has answered', () => {
  assert.equal(progressOf(0, 100), 0);
  assert.equal(progressOf(50, 100), 0.5);
  assert.equal(progressOf(100, 100), 0.99);
  assert.equal(progressOf(10, 0), 0);
});
