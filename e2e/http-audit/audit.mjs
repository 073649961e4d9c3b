// Runs every server audit of the GraphQL over HTTP specification against the URL given
// as the first argument, and prints one JSON line per audit: {id, name, status, reason}.
// status is "ok", "warn" (a SHOULD not met) or "error" (a MUST not met).
import { serverAudits } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node audit.mjs http://127.0.0.1:PORT/graphql");
  process.exit(2);
}
for (const audit of serverAudits({ url, fetchFn: fetch })) {
  const result = await audit.fn();
  const line = { id: audit.id, name: audit.name, status: result.status };
  if (result.status !== "ok") {
    line.reason = result.reason;
    if (result.response) {
      line.response = { status: result.response.status, body: await result.response.text() };
    }
  }
  console.log(JSON.stringify(line));
}
