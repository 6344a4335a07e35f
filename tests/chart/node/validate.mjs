// Validators for the chart tests, run with the packages of package.json installed in NODE_DIR:
//
//   node validate.mjs NODE_DIR objects OBJECTS.json
//       every rendered object against its kubernetes-models model (types, required fields,
//       formats; not unknown fields, which the models do not check)
//   node validate.mjs NODE_DIR values SCHEMA.json VALUES.json...
//       coalesced values (what Helm validates) against the chart's values.schema.json
//
// Prints one line per problem, naming the object or file; exit 0 when all is valid, 1 when
// something is not, 2 on bad usage.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const [nodeDir, mode, ...files] = process.argv.slice(2);
if (!nodeDir || !["objects", "values"].includes(mode) || files.length === 0) {
  console.error("usage: validate.mjs NODE_DIR objects OBJECTS.json | values SCHEMA.json VALUES.json...");
  process.exit(2);
}
const require = createRequire(join(nodeDir, "package.json"));
const readJson = (file) => JSON.parse(readFileSync(file, "utf8"));

// The model module of an apiVersion and kind.
function modelOf(apiVersion, kind) {
  if (apiVersion === "monitoring.coreos.com/v1") {
    return require(`@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`)[kind];
  }
  return require(`kubernetes-models/${apiVersion}/${kind}`)[kind];
}

let problems = 0;
if (mode === "objects") {
  for (const file of files) {
    for (const { source, object } of readJson(file)) {
      const what = `${source}: ${object.kind}/${object.metadata?.name}`;
      let Model;
      try {
        Model = modelOf(object.apiVersion, object.kind);
      } catch (e) {
        console.log(`${what}: no model for ${object.apiVersion} ${object.kind}`);
        problems++;
        continue;
      }
      try {
        new Model(object).validate();
      } catch (e) {
        console.log(`${what}: ${e.message}`);
        problems++;
      }
    }
  }
} else {
  const Ajv = require("ajv").default;
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  const validate = ajv.compile(readJson(files[0]));
  for (const file of files.slice(1)) {
    if (!validate(readJson(file))) {
      for (const e of validate.errors) {
        const where = e.instancePath || "(top)";
        const extra = e.params?.additionalProperty ? ` '${e.params.additionalProperty}'` :
                      e.params?.allowedValues ? `: ${e.params.allowedValues.join(", ")}` : "";
        console.log(`${file}: ${where} ${e.message}${extra}`);
      }
      problems++;
    }
  }
}
process.exit(problems === 0 ? 0 : 1);
