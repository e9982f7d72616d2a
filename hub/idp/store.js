// A tiny file-backed storage adapter for oidc-provider: grants, sessions and refresh tokens survive a
// restart of the development IdP (the memory adapter loses them). One JSON file, rewritten atomically on
// every change; fine for a handful of users, not for production.
import fs from 'node:fs';
import path from 'node:path';

export function createFileStore(file) {
  let records = {};
  try {
    records = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if (err.code !== 'ENOENT') console.error(`idp: ignoring unreadable store ${file}: ${err.message}`);
  }

  const now = () => Math.floor(Date.now() / 1000);
  const alive = (rec) => rec && (rec.exp === null || rec.exp > now());

  function save() {
    for (const [key, rec] of Object.entries(records)) if (!alive(rec)) delete records[key];
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(records), { mode: 0o600 });
    fs.renameSync(tmp, file);
  }

  class FileAdapter {
    constructor(model) {
      this.model = model;
    }

    key(id) {
      return `${this.model}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      records[this.key(id)] = { payload, exp: typeof expiresIn === 'number' ? now() + expiresIn : null };
      save();
    }

    async find(id) {
      const rec = records[this.key(id)];
      return alive(rec) ? rec.payload : undefined;
    }

    async findByUid(uid) {
      const prefix = `${this.model}:`;
      for (const [key, rec] of Object.entries(records)) {
        if (key.startsWith(prefix) && alive(rec) && rec.payload.uid === uid) return rec.payload;
      }
      return undefined;
    }

    async findByUserCode(userCode) {
      const prefix = `${this.model}:`;
      for (const [key, rec] of Object.entries(records)) {
        if (key.startsWith(prefix) && alive(rec) && rec.payload.userCode === userCode) return rec.payload;
      }
      return undefined;
    }

    async consume(id) {
      const rec = records[this.key(id)];
      if (rec) {
        rec.payload.consumed = now();
        save();
      }
    }

    async destroy(id) {
      delete records[this.key(id)];
      save();
    }

    async revokeByGrantId(grantId) {
      for (const [key, rec] of Object.entries(records)) {
        if (rec.payload?.grantId === grantId) delete records[key];
      }
      save();
    }
  }

  fs.mkdirSync(path.dirname(file), { recursive: true });
  return FileAdapter;
}
