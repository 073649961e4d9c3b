// The dashboard's shell: which page a path shows, the navigation, the live link's state,
// and the way in and out of a session.

import "./style.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { gql, end, onSession, session, type Session } from "./api";
import { closeSocket, linkState, onLink, type Link } from "./live";
import { follow, navigate, useLocation } from "./router";
import { Forgot, Login, Reset, Signup, Verify, VerifyChannel } from "./pages/auth";
import { Admin } from "./pages/admin";
import { JobPage } from "./pages/job";
import { JobForm } from "./pages/job_form";
import { Jobs } from "./pages/jobs";
import { Overview } from "./pages/overview";
import { Settings } from "./pages/settings";

const PUBLIC = new Set(["/login", "/signup", "/verify", "/forgot-password", "/reset-password"]);

/** Where to go after logging in: a path of this app only, never another site. */
function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

function useSession(): Session | null {
  const [current, setCurrent] = useState(session());
  useEffect(() => onSession(setCurrent), []);
  return current;
}

/** "Live", or that the socket dropped and is coming back, or came back. */
function LinkStatus() {
  const [link, setLink] = useState<Link>(linkState());
  useEffect(() => onLink(setLink), []);
  if (link.state === "idle") return <span class="link-state" data-state="idle" />;
  const words =
    link.state === "live"
      ? link.reconnects > 0
        ? `Live (reconnected${link.reconnects > 1 ? ` ${link.reconnects} times` : ""})`
        : "Live"
      : link.state === "reconnecting"
        ? "Reconnecting…"
        : "Connecting…";
  return (
    <span class={`link-state ${link.state}`} role="status" data-state={link.state} data-reconnects={link.reconnects}>
      <span class="dot" aria-hidden="true" />
      {words}
    </span>
  );
}

async function logout(refreshToken: string) {
  try {
    await gql(`mutation Logout($token: String!) { logout(refreshToken: $token) }`, { token: refreshToken });
  } finally {
    closeSocket();
    end();
    navigate("/login", true);
  }
}

function Shell({ s, path, children }: { s: Session; path: string; children: preact.ComponentChildren }) {
  const item = (href: string, label: string) => (
    <a href={href} aria-current={(href === "/" ? path === "/" : path.startsWith(href)) ? "page" : undefined}>
      {label}
    </a>
  );
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/">
          CronOps
        </a>
        <nav aria-label="Main">
          {item("/", "Overview")}
          {item("/jobs", "Jobs")}
          {s.user.role === "ADMIN" && item("/admin", "Admin")}
          {item("/settings", "Settings")}
        </nav>
        <LinkStatus />
        <span class="who">{s.user.name}</span>
        <button type="button" onClick={() => logout(s.refreshToken)}>
          Log out
        </button>
      </header>
      <main id="main">{children}</main>
    </>
  );
}

function App() {
  const s = useSession();
  const { path, query } = useLocation();
  // A session ended elsewhere (logout, expiry, another tab): back to the login page.
  useEffect(() => {
    if (!s) closeSocket();
    if (!s && !PUBLIC.has(path) && path !== "/verify-channel") navigate(`/login?next=${encodeURIComponent(path + location.search)}`, true);
    if (s && PUBLIC.has(path) && path !== "/reset-password") navigate(safeNext(query.get("next")), true);
  }, [s, path]);

  if (path === "/verify-channel") return <VerifyChannel token={query.get("token") ?? ""} />;
  if (!s || PUBLIC.has(path)) {
    if (path === "/signup") return <Signup />;
    if (path === "/verify") return <Verify email={query.get("email") ?? ""} />;
    if (path === "/forgot-password") return <Forgot />;
    if (path === "/reset-password") return <Reset token={query.get("token") ?? ""} />;
    return <Login next={safeNext(query.get("next"))} />;
  }

  let page;
  const job = path.match(/^\/jobs\/([0-9a-f-]{36})(\/edit)?$/);
  if (path === "/") page = <Overview />;
  else if (path === "/jobs") page = <Jobs />;
  else if (path === "/jobs/new") page = <JobForm />;
  else if (job && job[2]) page = <JobForm key={job[1]} id={job[1]} />;
  else if (job) page = <JobPage key={job[1]} id={job[1]} openRun={query.get("run")} />;
  else if (path === "/settings") page = <Settings />;
  else if (path.startsWith("/admin") && s.user.role === "ADMIN") page = <Admin path={path} />;
  else
    page = (
      <section class="page">
        <h1>Not found</h1>
        <p>
          Nothing lives at {path}. <a href="/">Back to the overview</a>
        </p>
      </section>
    );
  return (
    <Shell s={s} path={path}>
      {page}
    </Shell>
  );
}

document.addEventListener("click", follow);
const root = document.getElementById("app")!;
root.textContent = "";
render(<App />, root);
