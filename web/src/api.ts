// The one way the dashboard talks to CronOps over HTTP: POST /graphql with the session's
// access token, refreshed before it expires (and once more when the server says it has),
// errors turned into ApiError with the contract's `extensions.code`.

export interface User {
  id: string;
  email: string;
  name: string;
  role: "USER" | "ADMIN";
  plan: "FREE" | "PREMIUM" | "PRO";
  jobCount: number;
}

export interface Session {
  accessToken: string;
  refreshToken: string;
  /** Milliseconds since the epoch when the access token stops working. */
  expiresAt: number;
  user: User;
}

interface GraphQLError {
  message: string;
  extensions?: { code?: string; field?: string; retryAfter?: number; reason?: string };
}

export class ApiError extends Error {
  readonly code: string;
  readonly field?: string;
  readonly retryAfter?: number;
  readonly reason?: string;
  readonly all: GraphQLError[];

  constructor(errors: GraphQLError[]) {
    super(errors[0]?.message ?? "Request failed");
    const ext = errors[0]?.extensions ?? {};
    this.code = ext.code ?? "INTERNAL_SERVER_ERROR";
    this.field = ext.field?.split(".").pop();
    this.retryAfter = ext.retryAfter;
    this.reason = ext.reason;
    this.all = errors;
  }
}

/** A field-by-field map of an error's messages, for forms. */
export function fieldErrors(error: unknown): Record<string, string> {
  if (!(error instanceof ApiError)) return {};
  const out: Record<string, string> = {};
  for (const e of error.all) {
    const field = e.extensions?.field?.split(".").pop();
    if (field && !out[field]) out[field] = e.message;
  }
  return out;
}

/** What to say about an error that no field takes. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === "RATE_LIMITED") {
      return `Too many requests: try again in ${error.retryAfter ?? 1} s.`;
    }
    return error.message;
  }
  if (error instanceof TypeError) return "CronOps cannot be reached. Check your connection.";
  return String(error);
}

const KEY = "cronops.session";
const listeners = new Set<(s: Session | null) => void>();
let current: Session | null = read();

function read(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

function publish(next: Session | null, store = true) {
  current = next;
  if (store) {
    if (next) localStorage.setItem(KEY, JSON.stringify(next));
    else localStorage.removeItem(KEY);
  }
  for (const listener of listeners) listener(next);
}

// Another tab logged in, out, or refreshed the tokens.
window.addEventListener("storage", (event) => {
  if (event.key === KEY) publish(read(), false);
});

export function session(): Session | null {
  return current;
}

export function onSession(listener: (s: Session | null) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

interface AuthPayload {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: User;
}

export const USER_FIELDS = "id email name role plan jobCount";

/** Keeps the tokens of a login, sign-up verification or refresh. */
export function begin(payload: AuthPayload) {
  publish({
    accessToken: payload.accessToken,
    refreshToken: payload.refreshToken,
    expiresAt: Date.now() + payload.expiresIn * 1000,
    user: payload.user,
  });
}

export function updateUser(user: User) {
  if (current) publish({ ...current, user });
}

export function end() {
  publish(null);
}

let refreshing: Promise<string | null> | null = null;

/**
 * Trades the refresh token for new tokens, once at a time across tabs: refresh tokens
 * rotate, so a second tab using the same one would be refused (and end the session).
 */
function refresh(stale: string): Promise<string | null> {
  refreshing ??= (async () => {
    const run = async () => {
      const latest = read();
      if (!latest) return null;
      if (latest.accessToken !== stale && latest.expiresAt - Date.now() > 30_000) {
        publish(latest, false);
        return latest.accessToken;
      }
      try {
        const data = await post<{ refreshToken: AuthPayload }>(
          `mutation Refresh($token: String!) { refreshToken(refreshToken: $token) {
             accessToken refreshToken expiresIn user { ${USER_FIELDS} } } }`,
          { token: latest.refreshToken },
          null,
        );
        begin(data.refreshToken);
        return data.refreshToken.accessToken;
      } catch (error) {
        if (error instanceof ApiError) end();
        throw error;
      }
    };
    try {
      return navigator.locks ? await navigator.locks.request("cronops-refresh", run) : await run();
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** An access token good for at least the next 30 seconds, or null when logged out. */
export async function freshToken(): Promise<string | null> {
  const now = current;
  if (!now) return null;
  if (now.expiresAt - Date.now() > 30_000) return now.accessToken;
  return refresh(now.accessToken);
}

async function post<T>(query: string, variables: object, token: string | null): Promise<T> {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/graphql-response+json, application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  let body: { data?: T; errors?: GraphQLError[] };
  try {
    body = await response.json();
  } catch {
    throw new ApiError([{ message: `CronOps answered ${response.status}` }]);
  }
  if (body.errors?.length) throw new ApiError(body.errors);
  return body.data as T;
}

/** Runs a query or mutation as the logged-in user (or anonymously when logged out). */
export async function gql<T>(query: string, variables: object = {}): Promise<T> {
  const token = await freshToken();
  try {
    return await post<T>(query, variables, token);
  } catch (error) {
    if (token && error instanceof ApiError && error.code === "UNAUTHENTICATED" && current) {
      // The token was refused early (a restart with new keys, a clock apart): refresh once.
      const again = await refresh(token);
      return post<T>(query, variables, again);
    }
    throw error;
  }
}
