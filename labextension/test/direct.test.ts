import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';

import {
  checksumOf,
  DirectFailure,
  directUploadUrl,
  etagOf,
  goesDirect,
  inFlight,
  partFallsBack,
  partRange,
  PartProgress,
  s3Message,
  signedPartOf,
  startedOf,
  startFallsBack,
  uploadSettingsOf
} from '../src/uploadcore';

const MiB = 1024 * 1024;

/** CRC32C bit by bit (Castagnoli, reflected 0x82F63B78): the reference the fast table code must match. */
function crc32cSlow(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) {
      crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    }
  }
  return (crc ^ 0xffffffff) >>> 0;
}

test('the server’s answer turns direct uploads on with its part size; anything else leaves them off', () => {
  assert.deepEqual(uploadSettingsOf({ folder: 's3/', direct: { part_size: 8 * MiB } }), {
    folder: 's3',
    partSize: 8 * MiB
  });
  assert.deepEqual(uploadSettingsOf({ folder: 's3', direct: null }), { folder: 's3', partSize: null });
  assert.deepEqual(uploadSettingsOf({ folder: 's3' }), { folder: 's3', partSize: null });
  for (const direct of [{ part_size: '8' }, { part_size: 0 }, { part_size: 1.5 }, {}, 'yes']) {
    assert.equal(uploadSettingsOf({ folder: 's3', direct }).partSize, null, JSON.stringify(direct));
  }
  assert.deepEqual(uploadSettingsOf(null), { folder: null, partSize: null });
  assert.deepEqual(uploadSettingsOf({ folder: '/' }), { folder: null, partSize: null });
});

test('a file of at least one part goes direct; a smaller one, or direct uploads off, is streamed', () => {
  assert.equal(goesDirect(5 * MiB, 5 * MiB), true);
  assert.equal(goesDirect(12 * MiB, 5 * MiB), true);
  assert.equal(goesDirect(5 * MiB - 1, 5 * MiB), false);
  assert.equal(goesDirect(0, 5 * MiB), false);
  assert.equal(goesDirect(100 * MiB, null), false);
});

test('the direct-upload URL is under the base URL, each segment encoded once', () => {
  assert.equal(
    directUploadUrl('/user/bob/', 's3/bob data/a#b?.bin'),
    '/user/bob/datalab/direct-upload/s3/bob%20data/a%23b%3F.bin'
  );
  assert.equal(directUploadUrl('http://h:1', '/s3//x'), 'http://h:1/datalab/direct-upload/s3/x');
});

test('a start is used only when its parts cover the file and its checksum is known', () => {
  const size = 12 * MiB;
  const good = { id: 'abc', part_size: 5 * MiB, parts: 3, checksum: 'CRC32C' };
  assert.deepEqual(startedOf(JSON.stringify(good), size), {
    id: 'abc',
    partSize: 5 * MiB,
    parts: 3,
    checksum: 'CRC32C'
  });
  assert.equal(startedOf(JSON.stringify({ ...good, checksum: 'SHA256' }), size)?.checksum, 'SHA256');
  assert.equal(startedOf(JSON.stringify({ ...good, checksum: null }), size)?.checksum, null); // length only
  assert.equal(startedOf(JSON.stringify({ id: 'abc', part_size: 5 * MiB, parts: 3 }), size), null); // none said
  for (const bad of [
    { ...good, parts: 2 },
    { ...good, part_size: 0 },
    { ...good, checksum: 'MD5' },
    { ...good, id: '' },
    { ...good, id: 7 }
  ]) {
    assert.equal(startedOf(JSON.stringify(bad), size), null, JSON.stringify(bad));
  }
  assert.equal(startedOf('<html>', size), null);
  assert.equal(startedOf('null', size), null);
});

test('the parts cover the file exactly, in order, the last one shorter', () => {
  for (const [size, partSize] of [
    [12 * MiB, 5 * MiB],
    [10 * MiB, 5 * MiB],
    [5 * MiB, 5 * MiB],
    [7, 3]
  ]) {
    const parts = Math.ceil(size / partSize);
    let at = 0;
    for (let k = 1; k <= parts; k++) {
      const [begin, end] = partRange(k, size, partSize);
      assert.equal(begin, at);
      assert.ok(end > begin && end - begin <= partSize);
      at = end;
    }
    assert.equal(at, size);
  }
  assert.deepEqual(partRange(3, 12 * MiB, 5 * MiB), [10 * MiB, 12 * MiB]);
});

test('progress is the bytes sent summed over the parts in flight, each counted once', () => {
  const sent = new PartProgress();
  assert.equal(sent.sent(1, 100), 100);
  assert.equal(sent.sent(2, 50), 150);
  assert.equal(sent.sent(1, 300), 350);
  assert.equal(sent.sent(1, 300), 350);
  assert.equal(sent.sent(3, 10), 360);
  assert.equal(sent.sent(2, 500), 810);
});

test('CRC32C is S3’s: big-endian, base64, the same as a bit-by-bit Castagnoli CRC', async () => {
  const check = new TextEncoder().encode('123456789');
  assert.equal(await checksumOf('CRC32C', new Uint8Array(check)), Buffer.from('e3069283', 'hex').toString('base64'));
  assert.equal(await checksumOf('CRC32C', new Uint8Array(0)), 'AAAAAA==');
  const data = new Uint8Array(randomBytes(MiB + 3));
  const expected = Buffer.alloc(4);
  expected.writeUInt32BE(crc32cSlow(data));
  assert.equal(await checksumOf('CRC32C', data), expected.toString('base64'));
});

test('SHA-256 is the digest in base64; without WebCrypto (no secure context) the file is streamed', async () => {
  const data = new Uint8Array(randomBytes(3 * MiB + 1));
  assert.equal(await checksumOf('SHA256', data), createHash('sha256').update(data).digest('base64'));
  await assert.rejects(checksumOf('SHA256', data, null), (e: unknown) => {
    assert.ok(e instanceof DirectFailure && e.fallBack);
    return true;
  });
});

test('the streamed upload takes over when the server has no direct uploads or S3 is out of reach', () => {
  for (const status of [404, 405, 501]) {
    assert.equal(startFallsBack(status), true, String(status));
  }
  for (const status of [0, 400, 403, 413, 500, 503]) {
    assert.equal(startFallsBack(status), false, String(status));
  }
  assert.equal(partFallsBack(0, null, 0), true); // unreachable, or CORS refusing the PUT
  assert.equal(partFallsBack(200, null, 0), true); // CORS not exposing ETag
  assert.equal(partFallsBack(0, null, 1), false); // S3 was reached: the connection was lost
  assert.equal(partFallsBack(200, null, 2), false);
  for (const status of [400, 403, 500, 503]) {
    assert.equal(partFallsBack(status, null, 0), false, String(status));
  }
});

test('the ETag is kept as S3 sent it', () => {
  assert.equal(etagOf('"9b2cf535f27731c974343645a3985328"'), '"9b2cf535f27731c974343645a3985328"');
  assert.equal(etagOf(' "x" '), '"x"');
  assert.equal(etagOf(null), null);
  assert.equal(etagOf(''), null);
});

test('S3’s refusal is told by its <Message>, bounded, with no URL in it', () => {
  const xml = (inner: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${inner}<RequestId>1</RequestId></Error>`;
  assert.equal(
    s3Message(2, 400, xml('<Code>BadDigest</Code><Message>The CRC32C you specified did not match the calculated checksum.</Message>')),
    'S3 refused part 2 of the upload: The CRC32C you specified did not match the calculated checksum.'
  );
  assert.equal(
    s3Message(1, 403, xml('<Code>SignatureDoesNotMatch</Code><Message>a &lt;b&gt; &amp; &#39;c&#x27;</Message>')),
    "S3 refused part 1 of the upload: a <b> & 'c'"
  );
  assert.equal(s3Message(1, 403, xml('<Code>AccessDenied</Code>')), 'S3 refused part 1 of the upload: AccessDenied');
  assert.equal(s3Message(3, 502, '<html>bad gateway</html>'), 'S3 refused part 3 of the upload: HTTP 502');
  const leaky = s3Message(
    1,
    403,
    xml('<Message>Expired: https://s3.example/b/k?X-Amz-Signature=abc&amp;X-Amz-Security-Token=t see</Message>')
  );
  assert.ok(!/https?:|Signature|Token/.test(leaky), leaky);
  const long = s3Message(1, 400, xml(`<Message>${'x'.repeat(5000)}\n\u0007</Message>`), 80);
  assert.equal(long.length, 80);
  assert.match(s3Message(1, 0, ''), /connection to S3 was lost/);
});

test('a signed part is its URL and headers; an answer that is not one is refused', () => {
  assert.deepEqual(
    signedPartOf(JSON.stringify({ url: 'http://127.0.0.1:1/b/k?partNumber=1', headers: { 'x-amz-checksum-crc32c': 'AAAAAA==' } })),
    { url: 'http://127.0.0.1:1/b/k?partNumber=1', headers: { 'x-amz-checksum-crc32c': 'AAAAAA==' } }
  );
  assert.deepEqual(signedPartOf(JSON.stringify({ url: 'https://s3/b/k' })).headers, {});
  for (const body of ['{}', 'nope', '{"url": "javascript:alert(1)"}', '{"url": "https://s3/", "headers": {"a": 1}}']) {
    assert.throws(() => signedPartOf(body), (e: unknown) => e instanceof DirectFailure && !e.fallBack, body);
  }
});

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise(resolve => setImmediate(resolve));

test('at most 3 parts are in flight, started in order, their results in order', async () => {
  const pending = new Map<number, ReturnType<typeof deferred<string>>>();
  const started: number[] = [];
  let running = 0;
  let most = 0;
  const all = inFlight(7, 3, async index => {
    started.push(index);
    running += 1;
    most = Math.max(most, running);
    const d = deferred<string>();
    pending.set(index, d);
    try {
      return await d.promise;
    } finally {
      running -= 1;
    }
  });
  await tick();
  assert.deepEqual(started, [1, 2, 3]);
  for (const index of [2, 1, 3, 5, 4, 7, 6]) {
    while (!pending.has(index)) {
      await tick();
    }
    pending.get(index)!.resolve(`etag${index}`);
    await tick();
  }
  assert.deepEqual(await all, [1, 2, 3, 4, 5, 6, 7].map(i => `etag${i}`));
  assert.equal(most, 3);
  assert.deepEqual(started, [1, 2, 3, 4, 5, 6, 7]);
});

test('at the first failure no part starts, the running ones are stopped, and it rejects once they settle', async () => {
  const started: number[] = [];
  const settled: number[] = [];
  const failure = new DirectFailure('S3 refused', false);
  const all = inFlight(10, 3, (index, signal) => {
    started.push(index);
    if (index === 2) {
      return Promise.reject(failure);
    }
    return new Promise<string>((_, reject) =>
      signal.addEventListener('abort', () =>
        setTimeout(() => {
          settled.push(index);
          reject(new Error(`part ${index} aborted`));
        }, 5)
      )
    );
  });
  await assert.rejects(all, (e: unknown) => e === failure);
  assert.deepEqual(started, [1, 2, 3]);
  assert.deepEqual(settled.sort(), [1, 3]);
  assert.deepEqual(await inFlight(0, 3, async () => 'x'), []);
});
