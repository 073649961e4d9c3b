#!/usr/bin/env bash
# Refreshes the GraphiQL page's files in api/assets/graphiql/ from the npm registry
# (npm checks each package against its published integrity). The API embeds them, so
# GraphiQL loads nothing from a CDN. Bump the versions here, run, and commit the result.
set -euo pipefail

GRAPHIQL=3.9.0 # the last release with a browser (UMD) build
REACT=18.3.1   # the last React with UMD builds; GraphiQL 3 supports 16.8 to 18

out="$(cd "$(dirname "$0")/.." && pwd)/api/assets/graphiql"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null
for archive in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do
  package="${archive%-*}"
  mkdir "$package"
  tar -xzf "$archive.tgz" -C "$package" --strip-components=1
done
mkdir -p "$out"
# The source maps are not shipped: drop the comments that point at them.
sed '/^\/\/# sourceMappingURL=/d' graphiql/graphiql.min.js >"$out/graphiql.min.js"
sed 's#/\*\# sourceMappingURL=[^*]*\*/##' graphiql/graphiql.min.css >"$out/graphiql.min.css"
cp react/umd/react.production.min.js "$out/"
cp react-dom/umd/react-dom.production.min.js "$out/"
cp graphiql/LICENSE "$out/LICENSE-graphiql"
cp react/LICENSE "$out/LICENSE-react"
echo "graphiql $GRAPHIQL, react $REACT" >"$out/VERSIONS"
ls -l "$out"
