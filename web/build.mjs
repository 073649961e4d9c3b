// Builds the dashboard into dist/: one script and one stylesheet named by their content's
// hash (so browsers may keep them for good), and index.html naming them. A file is written
// only when its content changes, so an unchanged app does not make cargo rebuild the API,
// which embeds dist/.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";

const out = new URL("./dist/", import.meta.url);

const result = await build({
  entryPoints: { app: "src/main.tsx" },
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2020",
  jsx: "automatic",
  jsxImportSource: "preact",
  entryNames: "[name]-[hash]",
  outdir: "dist/assets",
  write: false,
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
});

const files = new Map();
for (const file of result.outputFiles) {
  files.set(file.path.slice(file.path.indexOf("/dist/") + 6), file.contents);
}
const named = (ext) => [...files.keys()].find((name) => name.startsWith("assets/app-") && name.endsWith(ext));
const script = named(".js");
const style = named(".css");
const html = readFileSync("src/index.html", "utf8")
  .replace("%SCRIPT%", `/${script}`)
  .replace("%STYLE%", `/${style}`);
files.set("index.html", new TextEncoder().encode(html));

mkdirSync(new URL("./assets/", out), { recursive: true });
for (const [name, contents] of files) {
  const path = new URL(name, out);
  if (existsSync(path) && Buffer.compare(readFileSync(path), contents) === 0) continue;
  writeFileSync(path, contents);
}
for (const name of readdirSync(new URL("./assets/", out))) {
  if (!files.has(`assets/${name}`)) rmSync(new URL(`./assets/${name}`, out));
}
const size = (name) => (files.get(name).length / 1024).toFixed(1);
const digest = createHash("sha256").update(html).digest("hex").slice(0, 12);
console.log(`dashboard: ${script} ${size(script)} KiB, ${style} ${size(style)} KiB (index ${digest})`);
