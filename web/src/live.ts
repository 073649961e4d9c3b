// The one socket of the dashboard: graphql-ws (graphql-transport-ws) at /graphql/ws,
// authenticated with a fresh token at every (re)connection, retried for ever. Its state is
// shown in the header, so a person sees when the feed paused and when it came back.

import { createClient, type Client } from "graphql-ws";
import { freshToken } from "./api";

/** `idle`: no page wants live data, so no socket is open. */
export type LinkState = "idle" | "connecting" | "live" | "reconnecting";

export interface Link {
  state: LinkState;
  /** How many times the socket came back after it dropped. */
  reconnects: number;
}

let link: Link = { state: "idle", reconnects: 0 };
let dropped = false;
const listeners = new Set<(l: Link) => void>();
let client: Client | null = null;

function set(next: Link) {
  link = next;
  for (const listener of listeners) listener(link);
}

export function linkState(): Link {
  return link;
}

export function onLink(listener: (l: Link) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function socket(): Client {
  client ??= createClient({
    url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql/ws`,
    lazy: true,
    lazyCloseTimeout: 2_000,
    keepAlive: 15_000,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    // Backs off to 10 s at most, with jitter, so a restarted server is not stampeded.
    retryWait: (tries) =>
      new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 500 * 2 ** tries) * (0.5 + Math.random() / 2))),
    connectionParams: async () => {
      const token = await freshToken();
      return token ? { Authorization: `Bearer ${token}` } : {};
    },
    on: {
      connecting: () => set({ ...link, state: dropped ? "reconnecting" : "connecting" }),
      connected: () => {
        set({ state: "live", reconnects: link.reconnects + (dropped ? 1 : 0) });
        dropped = false;
      },
      closed: (event) => {
        // 1000: closed on purpose, the last subscription having ended (lazy mode).
        if ((event as CloseEvent | undefined)?.code === 1000) {
          dropped = false;
          set({ ...link, state: "idle" });
        } else if (link.state === "live") {
          dropped = true;
          set({ ...link, state: "reconnecting" });
        }
      },
    },
  });
  return client;
}

/** Ends the socket (at logout); the next subscription opens a new one. */
export function closeSocket() {
  client?.dispose();
  client = null;
  dropped = false;
  set({ state: "idle", reconnects: 0 });
}

/**
 * Subscribes, and subscribes again whenever the socket ends the operation: graphql-ws does
 * not retry a close it deems final, such as 4401 when the access token expires, but a new
 * connection with a fresh token is all it takes. Returns the function that unsubscribes.
 */
export function subscribe<T>(
  query: string,
  variables: Record<string, unknown>,
  onData: (data: T) => void,
): () => void {
  let stopped = false;
  let stop = () => {};
  let tries = 0;
  const start = () => {
    stop = socket().subscribe<T>(
      { query, variables },
      {
        next: (message) => {
          tries = 0;
          if (message.data) onData(message.data as T);
        },
        error: () => {
          if (stopped) return;
          dropped = true;
          set({ ...link, state: "reconnecting" });
          tries += 1;
          setTimeout(() => stopped || start(), Math.min(10_000, 250 * 2 ** tries));
        },
        complete: () => {},
      },
    );
  };
  start();
  return () => {
    stopped = true;
    stop();
  };
}
