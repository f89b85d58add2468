// Copies the player libraries listed in assets.json from node_modules into
// internal/web/static/vendor (see `make assets`), with a VERSIONS file that
// names each package and version, so that the embedded copies are pinned by
// package-lock.json.
import { readFileSync, writeFileSync, mkdirSync, copyFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'internal', 'web', 'static', 'vendor');
const { packages } = JSON.parse(readFileSync(join(here, 'assets.json'), 'utf8'));
const lock = JSON.parse(readFileSync(join(here, 'package-lock.json'), 'utf8'));

rmSync(out, { recursive: true, force: true });
const versions = [];
for (const [name, spec] of Object.entries(packages)) {
  const src = join(here, 'node_modules', name);
  const installed = JSON.parse(readFileSync(join(src, 'package.json'), 'utf8')).version;
  const locked = lock.packages['node_modules/' + name]?.version;
  if (installed !== locked) {
    throw new Error(`${name}: node_modules has ${installed}, package-lock.json pins ${locked}: run npm ci in web/`);
  }
  mkdirSync(join(out, spec.dir), { recursive: true });
  for (const f of spec.files) {
    copyFileSync(join(src, f), join(out, spec.dir, basename(f)));
  }
  versions.push(`${name} ${installed} ${spec.dir}`);
}
writeFileSync(join(out, 'VERSIONS'), versions.join('\n') + '\n');
console.log(versions.join('\n'));
