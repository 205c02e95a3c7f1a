// Builds src/ into dist/ (committed, embedded in the Go binary):
//   node build.mjs        (or: npm run build)
// gusu's own code is bundled and minified by esbuild; MapLibre GL JS ships
// unchanged under dist/assets/vendor/ because it loads its worker module
// from beside itself. dist/build-info.json records a hash of every input so
// that a Go test can tell when dist/ is out of date with src/.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
const dist = join(here, 'dist');
rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'assets', 'vendor'), { recursive: true });

await esbuild.build({
  entryPoints: [join(here, 'src/viewer.js'), join(here, 'src/embed.js'), join(here, 'src/print.js')],
  bundle: true,
  format: 'esm',
  minify: true,
  target: ['es2022'],
  external: ['./vendor/maplibre-gl.mjs'],
  outdir: join(dist, 'assets'),
  legalComments: 'none',
  logLevel: 'warning',
});
await esbuild.build({
  entryPoints: [join(here, 'src/viewer.css'), join(here, 'src/print.css')],
  bundle: true,
  minify: true,
  outdir: join(dist, 'assets'),
  logLevel: 'warning',
});
const ml = join(here, 'node_modules/maplibre-gl/dist');
for (const f of ['maplibre-gl.mjs', 'maplibre-gl-worker.mjs', 'maplibre-gl-shared.mjs', 'maplibre-gl.css']) {
  cpSync(join(ml, f), join(dist, 'assets/vendor', f));
}
cpSync(join(here, 'node_modules/maplibre-gl/LICENSE.txt'), join(dist, 'assets/vendor/MAPLIBRE-LICENSE.txt'));
for (const page of ['index.html', 'embed.html', 'print.html']) {
  cpSync(join(here, 'src', page), join(dist, page));
}

// The inputs, hashed in a fixed order; frontend/embed_test.go does the same.
const inputs = ['build.mjs', 'package-lock.json', ...readdirSync(join(here, 'src')).sort().map((f) => 'src/' + f)];
const h = createHash('sha256');
for (const f of inputs) {
  h.update(f + '\n');
  h.update(readFileSync(join(here, f)));
}
writeFileSync(join(dist, 'build-info.json'), JSON.stringify({ inputs, sha256: h.digest('hex'), maplibre: JSON.parse(readFileSync(join(here, 'node_modules/maplibre-gl/package.json'))).version }, null, 2) + '\n');
console.log('built', dist);
