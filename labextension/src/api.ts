// The ctcd_jupyter REST API (the Jupyter server extension) and the JSON shapes it answers
// (ctcd_jupyter/views/json.py: one shape per object, the same as the CLI's --json).
import { URLExt } from '@jupyterlab/coreutils';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IStepRun {
  name: string;
  status: string;
  tone: string;
  started: number | null;
  finished: number | null;
  duration: number | null;
  cached: boolean;
  notes: string[];
  metrics: Record<string, number>;
  error: string | null;
  log: string;
}

export interface IDeployment {
  id: number | null;
  model_name: string;
  outcome: string;
  tone: string;
  reason: string;
  version: string | null;
  champion_version: string | null;
  metric: string | null;
  value: number | null;
  champion_value: number | null;
  run_id: string | null;
  created: number | null;
}

export interface IRun {
  id: string;
  pipeline: string;
  trigger: string;
  status: string;
  tone: string;
  started_at: number;
  finished_at: number | null;
  duration: number | null;
  metrics: Record<string, number>;
  note: string;
  failed_step: string | null;
  error: string | null;
  mlflow_run_id: string | null;
  warnings: string[];
}

export interface IRunDetail extends IRun {
  params: Record<string, unknown>;
  log: string;
  steps: IStepRun[];
  deployments: IDeployment[];
}

/** One row of a service's serving history (views/history.py: history_row). */
export interface IHistoryRow {
  version: string | null;
  uri: string | null;
  why: string;
  detail: string;
  since: number | null;
  until: number | null;
  live: boolean;
  tone: string;
}

/** The pin a rollback put on the served version. */
export interface IPin {
  version: string | null;
  at: number | null;
  reason: string | null;
}

export interface IService {
  name: string;
  kind: string;
  status: string;
  label: string;
  tone: string;
  wanted: string | null;
  endpoint: string | null;
  pid: number | null;
  last_error: string | null;
  model_uri: string | null;
  model_version: string | null;
  pinned: IPin | null;
  serving: IHistoryRow | null;
  history?: IHistoryRow[] | null;
}

/** A run's point on a metric trend (views/trend.py: trend_series). */
export interface ITrendPoint {
  id: string;
  started: number;
  metrics: Record<string, number>;
  deployed: boolean;
  note: string;
}

/** A rollback of a model the pipeline deployed, marked on its trend. */
export interface ITrendMark {
  at: number;
  version: string | null;
  reason: string;
}

export interface ITrend {
  points: ITrendPoint[];
  marks: ITrendMark[];
}

export interface IOwner {
  pid?: number;
  started?: number;
  alive?: boolean;
  kernel_id?: string;
  notebook?: string;
}

export interface ISchedule {
  name: string;
  status: string;
  tone: string;
  state: string;
  live: boolean;
  owner: IOwner;
  when: string;
  next_fire: number | null;
  succeeded: number;
  failed: number;
  skipped: number;
  params: Record<string, unknown>;
  last_run: { id: string; status: string; tone: string; started_at: number } | null;
}

/** The monitor report of a served model (monitoring/report.py: MonitorReport.to_dict()). */
export interface IMonitorVersion {
  version: string;
  requests: number;
  errors: number;
  error_rate: number | null;
  latency_p50_ms: number | null;
  latency_p99_ms: number | null;
  labels: { labelled: number } | null;
  accuracy: { value?: number | null; low?: number | null; high?: number | null;
    reason?: string } | null;
  features: { feature: string; verdict: string; psi: number | null }[] | null;
  prediction_drift: { verdict: string; psi: number | null } | null;
  reference: string;
}

export interface IMonitor {
  service: string;
  report: { window_s: number | null; drifted: boolean; dropped: number | null;
    versions: IMonitorVersion[] };
  charts: { title: string; spec: ReadonlyPartialJSONObject }[];
}

export interface IInfo {
  home: string;
  version: string;
  mlflow_ui: string | null;
  now: number;
}

/** An error the panel shows as one line. */
export class ApiError extends Error {}

const MISSING =
  'the ctcd_jupyter server extension is not answering on this Jupyter server ' +
  '(install ctcd_jupyter in the environment that runs jupyter lab, then ' +
  '`jupyter server extension enable ctcd_jupyter` and restart it)';

/** Call /ctcd/api/PATH; checks the status before reading JSON. */
export async function requestAPI<T>(path: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'ctcd', 'api', path);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ApiError(`cannot reach the Jupyter server: ${(error as Error).message}`);
  }
  const text = await response.text();
  const json = parse(text);
  if (!response.ok) {
    // ctcd's routes answer {"error": ...}; Jupyter's own errors {"message": ...}
    const body = (json && typeof json === 'object' ? json : {}) as Record<string, unknown>;
    if (body.error || body.message) {
      throw new ApiError(String(body.error || body.message));
    }
    if (response.status === 404) {
      throw new ApiError(MISSING);
    }
    throw new ApiError(`${response.status} ${response.statusText} from ${path}`);
  }
  if (json === undefined) {
    throw new ApiError(`${path} did not answer JSON; ${MISSING}`);
  }
  return json as T;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export const api = {
  info: () => requestAPI<IInfo>('info'),
  services: () => requestAPI<IService[]>('services'),
  schedules: () => requestAPI<ISchedule[]>('schedules'),
  runs: (limit: number) => requestAPI<IRun[]>(`runs?limit=${limit}`),
  run: (id: string) => requestAPI<IRunDetail>(`runs/${encodeURIComponent(id)}`),
  deployments: (limit: number) => requestAPI<IDeployment[]>(`deployments?limit=${limit}`),
  trends: (limit: number) => requestAPI<Record<string, ITrend>>(`trends?limit=${limit}`),
  monitor: (name: string, window: string) =>
    requestAPI<IMonitor>(`services/${name}/monitor?window=${encodeURIComponent(window)}`),
  logs: (name: string, tail: number) =>
    requestAPI<{ name: string; logs: string }>(`services/${name}/logs?tail=${tail}`),
  serviceAction: (name: string, action: string) =>
    requestAPI<IService>(`services/${name}/${action}`, { method: 'POST' }),
  scheduleAction: (name: string, action: string) =>
    requestAPI<{ message: string }>(`schedules/${name}/${action}`, { method: 'POST' })
};
