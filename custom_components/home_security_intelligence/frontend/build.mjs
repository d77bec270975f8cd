// Builds src/ into the one ES module the integration serves (dist/hsi-card.js), or, with --check,
// builds it in memory and fails when the committed file differs (CI: the bundle is what the source
// makes). The output depends only on the sources and the locked esbuild/lit versions: no dates,
// no absolute paths, no source maps.
import { build } from "esbuild";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const outfile = join(root, "dist", "hsi-card.js");
const check = process.argv.includes("--check");

const result = await build({
  absWorkingDir: root,
  entryPoints: ["src/card.ts"],
  bundle: true,
  format: "esm",
  target: "es2021",
  minify: true,
  legalComments: "eof",
  charset: "utf8",
  write: false,
  outfile,
  logLevel: "warning",
});
const built = result.outputFiles[0].contents;

if (check) {
  const committed = await readFile(outfile).catch(() => Buffer.alloc(0));
  if (!Buffer.from(built).equals(committed)) {
    console.error(`${outfile} differs from a fresh build of src/: run \`npm run build\` and commit it`);
    process.exit(1);
  }
  console.log(`dist/hsi-card.js matches a fresh build (${built.length} bytes)`);
} else {
  await mkdir(dirname(outfile), { recursive: true });
  await writeFile(outfile, built);
  console.log(`dist/hsi-card.js: ${built.length} bytes`);
}
