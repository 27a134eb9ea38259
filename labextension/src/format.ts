// Relative times, durations and tone classes; the tone names come from the JSON (`tone`).

export function ago(ts: number | null | undefined, now: number): string {
  if (ts === null || ts === undefined) {
    return '-';
  }
  const s = Math.round(now - ts);
  if (s < 0) {
    return `in ${span(-s)}`;
  }
  if (s < 5) {
    return 'just now';
  }
  return `${span(s)} ago`;
}

function span(s: number): string {
  if (s < 60) {
    return `${s} s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} min`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)} h`;
  }
  return `${Math.floor(s / 86400)} d`;
}

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) {
    return '-';
  }
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)} ms`;
  }
  if (seconds < 120) {
    return `${seconds.toFixed(1)} s`;
  }
  return `${(seconds / 60).toFixed(1)} min`;
}

export function clock(ts: number | null | undefined): string {
  return ts === null || ts === undefined ? '' : new Date(ts * 1000).toLocaleString();
}

export function metric(value: unknown): string {
  // four significant digits, no trailing zeros: 0.81, 0.7613, 1234
  return typeof value === 'number' && !Number.isInteger(value)
    ? String(Number(value.toPrecision(4)))
    : typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

/** The CSS class of a tone: success, warn, error, info, muted, text. */
export function toneClass(tone: string | undefined): string {
  return `ctcd-tone-${tone || 'text'}`;
}

/** A moment as a clock time when it is today, else with its date. */
export function clockShort(ts: number, now: number): string {
  const moment = new Date(ts * 1000);
  return moment.toDateString() === new Date(now * 1000).toDateString()
    ? moment.toLocaleTimeString() : moment.toLocaleString();
}
