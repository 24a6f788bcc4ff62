// SPDX-License-Identifier: Apache-2.0
// Import a package from a peer cache's node_modules (scripts/peers/*.sh), not from next to this file.
//
// ESM resolution starts at the importing file and ignores NODE_PATH, and the caches live in .cache/peers/,
// so the test peers' scripts load their packages through this: it follows the package's "exports" map
// (the "import"/"node"/"default" conditions, like Node for an ESM importer) or its "main".

import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const CONDITIONS = ['import', 'node', 'default'];

function pickTarget(target) {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) return target.map(pickTarget).find(Boolean);
  if (target && typeof target === 'object') {
    for (const condition of CONDITIONS) {
      if (condition in target) {
        const found = pickTarget(target[condition]);
        if (found) return found;
      }
    }
  }
  return undefined;
}

export function resolveFrom(modulesDir, specifier) {
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  const subpath = `.${specifier.slice(name.length)}`;
  const packageDir = path.join(path.resolve(modulesDir), name);
  const manifest = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8'));
  let target;
  if (manifest.exports !== undefined) {
    const exportsMap = typeof manifest.exports === 'string' || !Object.keys(manifest.exports)[0]?.startsWith('.')
      ? { '.': manifest.exports }
      : manifest.exports;
    target = pickTarget(exportsMap[subpath]);
  } else if (subpath === '.') {
    target = manifest.module ?? manifest.main ?? 'index.js';
  } else {
    target = subpath;
  }
  if (!target) throw new Error(`${specifier}: not exported by ${packageDir}/package.json`);
  return pathToFileURL(path.join(packageDir, target)).href;
}

export async function importFrom(modulesDir, specifier) {
  return import(resolveFrom(modulesDir, specifier));
}

export function modulesDirFromEnv(variable, installScript) {
  const dir = process.env[variable];
  if (!dir || !fs.existsSync(dir)) {
    console.error(`${variable} must name the node_modules dir of the peer cache (run ${installScript})`);
    process.exit(2);
  }
  return dir;
}
