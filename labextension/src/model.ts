/**
 * What the session's answers mean for the user (pure: no DOM, no JupyterLab), unit-tested with node:test.
 *
 * The credentials status comes from GET <base_url>datalab/credentials/status. Countdowns use the server's
 * `expires_in_seconds` minus the time elapsed since it answered, so a browser clock that is off does not
 * matter. Keys a newer server adds ("missing", "message", "next_attempt_in_seconds") are read when present,
 * never required.
 */

export interface PartStatus {
  configured: boolean;
  expiration?: string | null;
  expires_in_seconds?: number | null;
  expired?: boolean;
  bucket?: string | null;
  top_dir?: string | null;
}

export interface RenewalStatus {
  last_renewal?: string | null;
  next_check?: string | null;
  next_attempt_in_seconds?: number | null;
  last_error?: string | null;
  consecutive_failures?: number;
}

/** A credential the session should have and has not: {part: "vault", name: "Vault"} (or just "vault"). */
export type MissingPart = { part: string; name?: string } | string;

export interface CredentialsStatus {
  enabled: boolean;
  s3: PartStatus;
  vault: PartStatus;
  renewal?: RenewalStatus;
  warnings?: string[];
  state?: string; // "ready", "waiting" (a credential missing, retrying), "retrying" (renewal failing)
  missing?: MissingPart[];
  message?: string | null;
}

export type Level = 'ok' | 'warning' | 'error' | 'off';

export interface PartView {
  name: string; // "S3" or "Vault"
  level: Level;
  text: string; // "valid for 42 min", "expired", "not available in this session"
  secondsLeft: number | null;
}

export interface StatusView {
  level: Level;
  label: string; // the status bar's short text
  title: string; // its tooltip: one line per part, then the renewal
  parts: PartView[];
}

/** "1 h 05 min", "42 min", "4:05", "0:09": coarse when far, to the second when close. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s >= 3600) {
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return `${h} h ${String(m).padStart(2, '0')} min`;
  }
  if (s >= 600) {
    return `${Math.floor(s / 60)} min`;
  }
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** A time of the server (ISO 8601) as the user's local clock shows it, e.g. "14:05". */
export function localTime(iso: string | null | undefined): string {
  if (!iso) {
    return '';
  }
  const when = new Date(iso);
  if (isNaN(when.getTime())) {
    return '';
  }
  return when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function missingParts(status: CredentialsStatus): string[] {
  const found = Array.isArray(status.missing) ? status.missing : [];
  return found.map(x => (typeof x === 'string' ? x : String(x?.part ?? '')).toLowerCase());
}

function partView(
  name: string,
  part: PartStatus | undefined,
  elapsed: number,
  missing: boolean
): PartView | null {
  if (!part || !part.configured) {
    return missing
      ? { name, level: 'error', text: 'could not be obtained', secondsLeft: null }
      : null;
  }
  const raw = part.expires_in_seconds;
  const left = typeof raw === 'number' ? raw - elapsed : null;
  if (part.expired || (left !== null && left <= 0)) {
    return { name, level: 'error', text: 'expired', secondsLeft: 0 };
  }
  if (left === null) {
    return { name, level: 'ok', text: 'valid (no expiry)', secondsLeft: null };
  }
  const level: Level = missing ? 'warning' : 'ok';
  return { name, level, text: `valid for ${formatDuration(left)}`, secondsLeft: left };
}

const RANK: Record<Level, number> = { off: 0, ok: 1, warning: 2, error: 3 };

/**
 * The status bar's view of the credentials `elapsed` seconds after the server answered.
 * null status: the server could not be asked (`problem` says why).
 */
export function describeStatus(
  status: CredentialsStatus | null,
  elapsed: number,
  problem = ''
): StatusView {
  if (!status) {
    return {
      level: 'error',
      label: 'Credentials: status unavailable',
      title: `The session did not answer${problem ? `: ${problem}` : ''}. Retrying.`,
      parts: []
    };
  }
  if (!status.enabled) {
    return {
      level: 'off',
      label: 'No S3/Vault credentials',
      title: 'This session was started without S3 or Vault credentials.',
      parts: []
    };
  }
  const missing = missingParts(status);
  const parts = [
    partView('S3', status.s3, elapsed, missing.includes('s3')),
    partView('Vault', status.vault, elapsed, missing.includes('vault'))
  ].filter((p): p is PartView => p !== null);
  const renewal = status.renewal ?? {};
  const failures = renewal.consecutive_failures ?? 0;
  let level: Level = parts.reduce<Level>(
    (worst, p) => (RANK[p.level] > RANK[worst] ? p.level : worst),
    parts.length ? 'ok' : 'off'
  );
  if (failures > 0 && level === 'ok') {
    level = 'warning';
  }
  const names = parts.map(p => p.name).join(' · ') || 'Credentials';
  const soonest = parts
    .map(p => p.secondsLeft)
    .filter((s): s is number => s !== null && s > 0)
    .sort((a, b) => a - b)[0];
  let label: string;
  if (level === 'error') {
    const bad = parts.filter(p => p.level === 'error');
    label = `${bad.map(p => p.name).join(' & ')} ${bad.every(p => p.text === 'expired') ? 'expired' : 'unavailable'}`;
  } else if (level === 'warning') {
    label = `${names}: renewal failing${soonest !== undefined ? ` · ${formatDuration(soonest)}` : ''}`;
  } else if (level === 'ok') {
    label = `${names}${soonest !== undefined ? ` · ${formatDuration(soonest)}` : ''}`;
  } else {
    label = 'No S3/Vault credentials';
  }
  const lines = parts.map(p => `${p.name}: ${p.text}`);
  if (level === 'ok') {
    lines.push('Renewed automatically before they expire.');
  }
  if (renewal.last_renewal) {
    lines.push(`Last renewal: ${localTime(renewal.last_renewal)}`);
  }
  if (failures > 0 && renewal.last_error) {
    lines.push(`Renewal failed ${failures} time${failures > 1 ? 's' : ''}: ${renewal.last_error}`);
  }
  if (missing.length && status.message) {
    lines.push(status.message);
  }
  const retryIn = renewal.next_attempt_in_seconds;
  if ((failures > 0 || missing.length) && typeof retryIn === 'number') {
    lines.push(`Next attempt in ${formatDuration(retryIn - elapsed)}`);
  }
  for (const w of status.warnings ?? []) {
    lines.push(`Warning: ${w}`);
  }
  if (level === 'error') {
    lines.push('Open Connection details for what to do.');
  }
  return { level, label, title: lines.join('\n'), parts };
}

export interface Notice {
  id: string;
  kind: string;
  level: string;
  title: string;
  message: string;
  detail?: string;
  repository?: string;
  folder?: string;
  path?: string | null;
}

/** The notices not dismissed yet (dismissed ids are kept by the browser for that session's start). */
export function noticesToShow(notices: Notice[], dismissed: string[]): Notice[] {
  return notices.filter(n => n && n.id && !dismissed.includes(n.id));
}
