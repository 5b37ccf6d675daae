// validate-k8s.mjs DIR|FILE...: validates every Kubernetes object in the
// given YAML files (directories: every *.yaml under them) against the
// Kubernetes API's own OpenAPI schemas, offline, with the npm package
// kubernetes-models (scripts/setup installs it into tests/render/node_modules).
// Also checks the name rules the API server enforces and the schemas do not
// carry (DNS-1123 and DNS-1035 labels, port names). Prints one line per
// object and exits 1 when any object is invalid, 2 on usage errors.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(fileURLToPath(import.meta.url));
const YAML = require('yaml');

const dns1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const iana = /^(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function files(path) {
  if (statSync(path).isDirectory())
    return readdirSync(path).sort().flatMap((n) => files(join(path, n)));
  return /\.ya?ml$/.test(path) ? [path] : [];
}

function modelFor(apiVersion, kind) {
  const path = apiVersion.includes('/') ? apiVersion : apiVersion; // core: "v1"
  return require(`kubernetes-models/${path}/${kind}`)[kind];
}

function nameProblems(obj) {
  const out = [];
  const name = obj.metadata?.name ?? '';
  const rule = obj.kind === 'Service' ? dns1035 : dns1123;
  if (!rule.test(name) || name.length > 63)
    out.push(`metadata.name "${name}" breaks the ${obj.kind === 'Service' ? 'DNS-1035' : 'DNS-1123'} label rule`);
  const walk = (node, path) => {
    if (Array.isArray(node)) return node.forEach((v, i) => walk(v, `${path}[${i}]`));
    if (!node || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if ((k === 'containers' || k === 'initContainers') && Array.isArray(v))
        v.forEach((c, i) => {
          if (!dns1123.test(c.name) || c.name.length > 63)
            out.push(`${path}.${k}[${i}].name "${c.name}" breaks the DNS-1123 label rule`);
          (c.ports ?? []).forEach((p, j) => {
            if (p.name !== undefined && (!iana.test(p.name) || p.name.length > 15))
              out.push(`${path}.${k}[${i}].ports[${j}].name "${p.name}" is no IANA service name`);
          });
        });
      walk(v, `${path}.${k}`);
    }
  };
  walk(obj.spec, 'spec');
  return out;
}

const args = process.argv.slice(2);
if (args.length === 0) {
  console.error('usage: validate-k8s.mjs DIR|FILE...');
  process.exit(2);
}
let bad = 0, count = 0;
for (const file of args.flatMap(files)) {
  for (const doc of YAML.parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (doc.errors.length) {
      console.log(`${file}: invalid YAML: ${doc.errors[0].message}`);
      bad++;
      continue;
    }
    const obj = doc.toJS();
    if (obj === null) continue;
    count++;
    const what = `${file}: ${obj.kind} ${obj.metadata?.name}`;
    let Model;
    try {
      Model = modelFor(obj.apiVersion, obj.kind);
    } catch (e) {
      console.log(`${what}: unknown apiVersion/kind ${obj.apiVersion} ${obj.kind}`);
      bad++;
      continue;
    }
    const problems = nameProblems(obj);
    try {
      new Model(obj).validate();
    } catch (e) {
      problems.push(e.message);
    }
    if (problems.length) {
      console.log(`${what}: INVALID: ${problems.join('; ')}`);
      bad++;
    } else {
      console.log(`${what}: valid`);
    }
  }
}
console.log(`${count} objects, ${bad} invalid`);
process.exit(bad ? 1 : 0);
