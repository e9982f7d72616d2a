#!/usr/bin/env node
// Datalab's development OpenID Connect provider, for tests and the one-machine datalab.
//
//   node hub/idp/idp.js --host 127.0.0.1 --port N --issuer http://127.0.0.1:N \
//        --users users.yaml --clients clients.yaml --state DIR [--access-token-ttl S] ...
//        [--refresh-token-reuse-grace S]
//   node hub/idp/idp.js hash-password < password   (prints a scrypt hash for users.yaml)
//
// users.yaml:   users: {alice: {password: "..." | "scrypt$salt$hash", groups: [...], email: ..., name: ...}}
// clients.yaml: clients: [{client_id, client_secret, redirect_uris: [...]}]  (all first-party: no consent screen)
// Signing keys, cookie keys, grants and refresh tokens persist in the state directory, so tokens issued
// before a restart stay valid after it. users.yaml is re-read when it changes (no restart needed).
// Refresh tokens rotate; a used one is accepted again for --refresh-token-reuse-grace seconds (default
// 300, 0 for none), so a client whose reply was lost can retry (reuse_grace.js).
// Every client must use PKCE; loopback redirect URIs match on any port (RFC 8252), see below.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';
import YAML from 'yaml';

import { withReuseGrace } from './reuse_grace.js';
import { createFileStore } from './store.js';

const SCOPES = ['openid', 'profile', 'email', 'groups', 'offline_access'];
const CLAIMS = {
  openid: ['sub'],
  profile: ['preferred_username', 'name'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
};

// ---- passwords -------------------------------------------------------------------------------------
function hashPassword(password) {
  const salt = crypto.randomBytes(16);
  const key = crypto.scryptSync(password, salt, 64);
  return `scrypt$${salt.toString('base64')}$${key.toString('base64')}`;
}

function checkPassword(stored, given) {
  if (typeof stored !== 'string' || typeof given !== 'string' || !stored) return false;
  if (stored.startsWith('scrypt$')) {
    const [, salt, key] = stored.split('$');
    const expected = Buffer.from(key, 'base64');
    const actual = crypto.scryptSync(given, Buffer.from(salt, 'base64'), expected.length);
    return crypto.timingSafeEqual(expected, actual);
  }
  const a = crypto.createHash('sha256').update(stored).digest();
  const b = crypto.createHash('sha256').update(given).digest();
  return crypto.timingSafeEqual(a, b);
}

// ---- users, re-read when the file changes ----------------------------------------------------------
function userDirectory(file) {
  let version = '';
  let users = {};
  function load() {
    let stat;
    try {
      stat = fs.statSync(file);
    } catch (err) {
      console.error(`idp: cannot read users file ${file}: ${err.message}`);
      users = {};
      return users;
    }
    if (`${stat.mtimeMs}/${stat.size}/${stat.ino}` !== version) {
      try {
        const doc = YAML.parse(fs.readFileSync(file, 'utf8')) || {};
        const next = doc.users || {};
        if (typeof next !== 'object' || Array.isArray(next)) throw new Error('"users" must be a mapping');
        users = next;
        version = `${stat.mtimeMs}/${stat.size}/${stat.ino}`;
        console.log(`idp: loaded ${Object.keys(users).length} users from ${file}`);
      } catch (err) {
        console.error(`idp: keeping the previous users, ${file} is invalid: ${err.message}`);
      }
    }
    return users;
  }
  return { get: (name) => Object.hasOwn(load(), name) ? load()[name] || {} : undefined };
}

// ---- persistent keys ----------------------------------------------------------------------------
function readOrCreate(file, create) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    const value = create();
    fs.writeFileSync(file, JSON.stringify(value), { mode: 0o600 });
    return value;
  }
}

function signingKeys(stateDir) {
  return readOrCreate(path.join(stateDir, 'jwks.json'), () => {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = privateKey.export({ format: 'jwk' });
    return { keys: [{ ...jwk, kid: crypto.randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' }] };
  });
}

function cookieKeys(stateDir) {
  return readOrCreate(path.join(stateDir, 'cookie-keys.json'), () => [crypto.randomBytes(32).toString('hex')]);
}

// ---- clients ---------------------------------------------------------------------------------------
function loadClients(file) {
  const doc = YAML.parse(fs.readFileSync(file, 'utf8')) || {};
  if (!Array.isArray(doc.clients)) throw new Error(`${file}: "clients" must be a list`);
  return doc.clients.map((c, i) => {
    if (!c.client_id) throw new Error(`${file}: clients[${i}] has no client_id`);
    if (!Array.isArray(c.redirect_uris) || !c.redirect_uris.length) {
      throw new Error(`${file}: clients[${i}] (${c.client_id}) needs redirect_uris`);
    }
    return {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: c.client_secret ? 'client_secret_basic' : 'none',
      ...c,
    };
  });
}

function loopbackWithoutPort(uri) {
  let url;
  try {
    url = new URL(uri);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' || !['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname)) return null;
  url.port = '';
  return url.href;
}

// ---- HTML ------------------------------------------------------------------------------------------
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

// The sign-in form, in the style of the hub's landing page (hub/pages/templates/login.html): the same
// accent, a card, light and dark schemes. No script: it works with JavaScript off.
const STYLE = `
:root{color-scheme:light dark;--accent:#f37524;--bg:#f6f7f9;--card:#fff;--text:#212529;--muted:#5c636a;--border:#dee2e6;--danger:#b02a37}
@media (prefers-color-scheme:dark){:root{--bg:#16181b;--card:#212529;--text:#e9ecef;--muted:#adb5bd;--border:#3a3f44;--danger:#ea868f}}
*{box-sizing:border-box}body{margin:0;min-height:100vh;display:grid;place-items:center;background:var(--bg);color:var(--text);
font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{width:min(24rem,92vw);background:var(--card);border:1px solid var(--border);border-radius:.9rem;padding:2rem;
box-shadow:0 .5rem 1.5rem rgba(0,0,0,.08)}
.brand{font-weight:700;font-size:1.6rem;margin:0}.brand span{color:var(--accent)}
.lead{color:var(--muted);margin:.25rem 0 1.5rem}
label{display:block;font-weight:500;margin:.9rem 0 .3rem}
input{width:100%;padding:.6rem .75rem;font:inherit;color:inherit;background:transparent;border:1px solid var(--border);border-radius:.45rem}
input:focus{outline:3px solid color-mix(in srgb,var(--accent) 45%,transparent);border-color:var(--accent)}
button{font:inherit;cursor:pointer}
.primary{width:100%;margin-top:1.4rem;padding:.7rem;border:0;border-radius:.45rem;background:var(--accent);color:#fff;font-weight:600}
.primary:focus-visible,.secondary:focus-visible{outline:3px solid var(--text);outline-offset:2px}
.secondary{background:none;border:0;color:var(--muted);text-decoration:underline;padding:.25rem 0;margin-top:.75rem}
.error{color:var(--danger);background:color-mix(in srgb,var(--danger) 12%,transparent);border-radius:.45rem;padding:.6rem .75rem;margin:0 0 .5rem}
.foot{color:var(--muted);font-size:.85rem;margin-top:1.25rem}`;

function loginPage(uid, { username = '', error = '' } = {}) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in - Datalab</title><style>${STYLE}</style></head>
<body><main>
<h1 class="brand">Data<span>lab</span></h1>
<p class="lead">Sign in to Datalab with your account.</p>
${error ? `<p class="error" role="alert" id="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<label for="username">Username</label><input id="username" name="username" value="${esc(username)}" required autofocus
 autocapitalize="off" spellcheck="false"${error ? ' aria-describedby="error"' : ''}>
<label for="password">Password</label><input id="password" name="password" type="password" required autocomplete="current-password">
<button type="submit" class="primary">Sign in</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button type="submit" class="secondary">Cancel and go back</button></form>
<p class="foot">Datalab's development sign-in. Your organisation's own provider replaces it in production.</p>
</main></body></html>`;
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 * 1024) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

// ---- main ------------------------------------------------------------------------------------------
function parseCli() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '5556' },
      issuer: { type: 'string' },
      users: { type: 'string' },
      clients: { type: 'string' },
      state: { type: 'string' },
      'access-token-ttl': { type: 'string', default: '600' },
      'id-token-ttl': { type: 'string' }, // default: the access token's
      'refresh-token-ttl': { type: 'string', default: String(14 * 24 * 3600) },
      'session-ttl': { type: 'string', default: String(24 * 3600) },
      'refresh-token-reuse-grace': { type: 'string', default: '300' },
    },
  });
  return { ...values, command: positionals[0] };
}

function seconds(opts, name, { zero = false } = {}) {
  const n = Number(opts[name]);
  if (!Number.isInteger(n) || n < 0 || (n === 0 && !zero)) {
    throw new Error(`--${name} must be a ${zero ? 'whole' : 'positive'} number of seconds, got "${opts[name]}"`);
  }
  return n;
}

async function main() {
  const opts = parseCli();
  if (opts.command === 'hash-password') {
    const password = fs.readFileSync(0, 'utf8').replace(/\r?\n$/, '');
    console.log(hashPassword(password));
    return;
  }
  for (const name of ['users', 'clients', 'state']) {
    if (!opts[name]) throw new Error(`--${name} is required`);
  }
  const port = Number(opts.port);
  const issuer = opts.issuer || `http://${opts.host}:${port}`;
  fs.mkdirSync(opts.state, { recursive: true, mode: 0o700 });
  const users = userDirectory(opts.users);
  users.get('');  // load once now, so a broken file is reported at start
  const ttl = {
    access: seconds(opts, 'access-token-ttl'),
    id: opts['id-token-ttl'] ? seconds(opts, 'id-token-ttl') : seconds(opts, 'access-token-ttl'),
    refresh: seconds(opts, 'refresh-token-ttl'),
    session: seconds(opts, 'session-ttl'),
    reuseGrace: seconds(opts, 'refresh-token-reuse-grace', { zero: true }),
  };

  const provider = new Provider(issuer, {
    adapter: withReuseGrace(createFileStore(path.join(opts.state, 'store.json')), ttl.reuseGrace),
    clients: loadClients(opts.clients),
    jwks: signingKeys(opts.state),
    cookies: { keys: cookieKeys(opts.state) },
    scopes: SCOPES,
    claims: CLAIMS,
    conformIdTokenClaims: false, // put profile/email/groups claims in the ID token too (STS and Vault read it)
    pkce: { required: () => true }, // every client uses PKCE (the hub does: enable_pkce)
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      introspection: { enabled: true },
    },
    ttl: {
      AccessToken: ttl.access,
      IdToken: ttl.id,
      RefreshToken: ttl.refresh,
      AuthorizationCode: 60,
      Interaction: 600,
      Session: ttl.session,
      Grant: ttl.refresh,
    },
    // Like Keycloak: a refresh token for every code flow, whether or not offline_access was asked for.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    rotateRefreshToken: true, // with a reuse grace (see withReuseGrace): a lost reply can be retried
    async findAccount(ctx, sub) {
      const user = users.get(sub);
      if (!user) return undefined; // removed from users.yaml: its refresh tokens stop working
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            preferred_username: sub,
            name: user.name || sub,
            email: user.email || `${sub}@datalab.invalid`,
            email_verified: Boolean(user.email),
            groups: (user.groups || []).map(String),
          };
        },
      };
    },
    // Every client is first-party: grant what was asked, never show a consent screen.
    async loadExistingGrant(ctx) {
      const { client, session } = ctx.oidc;
      const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
      let grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (!grant) grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope(SCOPES.join(' '));
      await grant.save();
      return grant;
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in error</title>
<style>${STYLE}</style></head><body><main><h1 class="brand">Data<span>lab</span></h1><p class="lead">Sign-in error</p>
<pre class="error">${Object.entries(out).map(([k, v]) => `${esc(k)}: ${esc(v)}`).join('\n')}</pre>
<p class="foot">Start again from the application.</p></main></body></html>`;
    },
  });

  // RFC 8252 section 7.3: for loopback redirect URIs the port is not compared, because development
  // and test hubs listen on ports chosen at start (registered "http://127.0.0.1/hub/oauth_callback").
  const exactRedirect = provider.Client.prototype.redirectUriAllowed;
  provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
    if (exactRedirect.call(this, value)) return true;
    const portless = loopbackWithoutPort(value);
    return portless !== null && this.redirectUris.some((uri) => loopbackWithoutPort(uri) === portless);
  };

  const oidc = provider.callback();
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, issuer);
    const m = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login|abort))?$/);
    if (!m) return oidc(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      const [, uid, action] = m;
      if (details.uid !== uid) return send(res, 400, 'interaction mismatch', 'text/plain');
      if (details.prompt.name === 'consent') {
        // Reached only when a client insists (prompt=consent): first-party, so grant it.
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
        grant.addOIDCScope(SCOPES.join(' '));
        const consentGrantId = await grant.save();
        return provider.interactionFinished(req, res, { consent: { grantId: consentGrantId } }, { mergeWithLastSubmission: true });
      }
      if (req.method === 'GET' && !action) return send(res, 200, loginPage(uid));
      if (req.method !== 'POST') return send(res, 405, 'method not allowed', 'text/plain');
      const form = await readForm(req);
      if (action === 'abort') {
        return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'sign-in cancelled' });
      }
      const username = (form.get('username') || '').trim();
      const user = users.get(username);
      if (!user || !checkPassword(user.password, form.get('password') || '')) {
        console.log(`idp: failed sign-in for "${username.slice(0, 64)}"`);
        return send(res, 401, loginPage(uid, { username, error: 'Invalid username or password.' }));
      }
      console.log(`idp: ${username} signed in`);
      return provider.interactionFinished(req, res, { login: { accountId: username } }, { mergeWithLastSubmission: false });
    } catch (err) {
      console.error(`idp: interaction error: ${err.message}`);
      return send(res, 400, `Sign-in failed: ${esc(err.message)}. Start again from the application.`);
    }
  });
  server.listen(port, opts.host, () => {
    console.log(`idp: ${issuer} listening on ${opts.host}:${port} (access ${ttl.access}s, id ${ttl.id}s, refresh ${ttl.refresh}s, reuse grace ${ttl.reuseGrace}s)`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error(`idp: ${err.message}`);
  process.exit(2);
});
