#!/bin/bash
# cloud-config/terraform (issue 6): no terraform or tofu binary is installable here, so every
# .tf file is parsed as HCL2 by the npm package @cdktf/hcl2json (HashiCorp's HCL parser built
# to WebAssembly; installed once into /var/cache/clique-npm), then checked for the seed's fleet:
# 3 Linode (ap-south, g6-nanode-1) + 3 Vultr (sgp, vc2-1c-1gb), the bucket and its keys made by
# Terraform, random_bytes for the mesh key, user_data from cloud-config/*.yaml with exactly the
# variables those templates use, the seed's addresses, and an output of each node's address.
# Provider schemas (issue 14): every resource, data source, provider block and attribute
# reference is checked against terraform-schema.tsv, rows read from each provider's source at
# the exact version versions.tf pins (terraform-schema.js: required, unknown and deprecated
# arguments, count-ed blocks included); broken copies of the configuration show that each kind of
# mistake is caught. Not checked: `terraform fmt` (formatting is by hand), expression types, and
# what only the provider's API can say (a tier offered in a region). Prints "ok <check>" /
# "FAIL <check>".
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
NPMDIR=${CLIQUE_NPM_CACHE:-/var/cache/clique-npm}
HCL2JSON_VERSION=0.21.0
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	[ "$(id -u)" = 0 ] || { echo "node/npm missing"; exit 77; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm \
		>/dev/null 2>&1 || { echo "FAIL terraform: cannot install nodejs/npm"; exit 1; }
fi
if [ ! -f "$NPMDIR/node_modules/@cdktf/hcl2json/package.json" ] ||
	! grep -q "\"version\": \"$HCL2JSON_VERSION\"" "$NPMDIR/node_modules/@cdktf/hcl2json/package.json"; then
	mkdir -p "$NPMDIR"
	npm install --silent --no-audit --no-fund --prefix "$NPMDIR" \
		"@cdktf/hcl2json@$HCL2JSON_VERSION" >/dev/null 2>&1 ||
		{ echo "FAIL terraform: npm install @cdktf/hcl2json@$HCL2JSON_VERSION"; exit 1; }
fi

NODE_PATH=$NPMDIR/node_modules node - "$top/cloud-config" "$top/tests/packaging" <<'EOF'
const fs = require("fs"), path = require("path");
const { parse } = require("@cdktf/hcl2json");
const dir = process.argv[2], tfdir = path.join(dir, "terraform");
const schema = require(path.join(process.argv[3], "terraform-schema.js"));
let fails = 0;
const ok = (m) => console.log(`ok terraform: ${m}`);
const fail = (m) => { console.log(`FAIL terraform: ${m}`); fails++; };
const check = (m, c) => (c ? ok(m) : fail(m));

(async () => {
	const doc = { resource: {}, data: {}, variable: {}, output: {}, locals: [], provider: {}, terraform: [] };
	const files = fs.readdirSync(tfdir).filter((f) => f.endsWith(".tf")).sort();
	for (const f of files) {
		let j;
		try {
			j = await parse(f, fs.readFileSync(path.join(tfdir, f), "utf8"));
		} catch (e) {
			fail(`${f}: HCL2 parse error: ${String(e).split("\n")[0]}`);
			continue;
		}
		ok(`${f} parses as HCL2`);
		for (const [k, v] of Object.entries(j)) {
			if (Array.isArray(doc[k])) doc[k].push(...[].concat(v));
			else
				for (const [t, body] of Object.entries(v))
					doc[k][t] = Array.isArray(body) ? (doc[k][t] || []).concat(body) : Object.assign(doc[k][t] || {}, body);
		}
	}
	// the parser does catch a syntax error
	try {
		await parse("broken.tf", 'resource "x" "y" {\n  a = \n');
		fail("a broken file parses");
	} catch (e) {
		ok("a broken .tf is rejected");
	}
	const res = (t, n) => (doc.resource[t] || {})[n]?.[0];
	const varDefault = (n) => doc.variable[n]?.[0]?.default;
	const expr = (v) => String(v);

	const ln = res("linode_instance", "node"), vn = res("vultr_instance", "node");
	check("3 Linode nodes in ap-south, g6-nanode-1",
		ln && expr(ln.count) === "${var.node_count}" && varDefault("node_count") === 3 &&
		expr(ln.region) === "${var.linode_region}" && varDefault("linode_region") === "ap-south" &&
		varDefault("linode_type") === "g6-nanode-1" && ln.private_ip === true);
	check("3 Vultr nodes in sgp, vc2-1c-1gb",
		vn && expr(vn.count) === "${var.node_count}" && varDefault("vultr_region") === "sgp" &&
		varDefault("vultr_plan") === "vc2-1c-1gb");
	check("mesh key from random_bytes (32 bytes, base64)",
		res("random_bytes", "mesh_key")?.length === 32 &&
		JSON.stringify(doc.locals).includes("random_bytes.mesh_key.base64"));
	check("bucket and keys made by Terraform (linode_object_storage_bucket/key, vultr_object_storage(_bucket))",
		res("linode_object_storage_bucket", "mesh") && res("linode_object_storage_key", "mesh") &&
		res("vultr_object_storage", "mesh") && res("vultr_object_storage_bucket", "mesh"));

	// user_data: templatefile() of the two cloud-config templates, with exactly their variables
	const locals = Object.assign({}, ...doc.locals);
	const shared = Object.keys(locals.clique || {});
	for (const [cloud, node, ud, net] of [["linode", ln, ln?.metadata?.[0]?.user_data, "10.15.0"],
					      ["vultr", vn, vn?.user_data, "10.15.1"]]) {
		const u = expr(ud);
		const m = u.match(/templatefile\("\$\{path\.module\}\/\.\.\/(\w+)\.yaml"/);
		check(`${cloud} user_data renders cloud-config/${cloud}.yaml`, m && m[1] === cloud &&
			fs.existsSync(path.join(dir, `${cloud}.yaml`)));
		check(`${cloud} addresses ${net}.<n>`, u.includes(`address = "${net}.\${count.index + 1}"`));
		const tpl = fs.readFileSync(path.join(dir, `${cloud}.yaml`), "utf8");
		const used = [...new Set([...tpl.matchAll(/(?<!\$)\$\{(\w+)\}/g)].map((x) => x[1]))].sort();
		const given = [...new Set([...shared, "address"])].sort();
		check(`${cloud}.yaml variables = those passed (${used.join(" ")})`,
			JSON.stringify(used) === JSON.stringify(given));
	}
	// every var.X and local.X used is declared
	const all = JSON.stringify(doc);
	const refs = (re) => [...new Set([...all.matchAll(re)].map((x) => x[1]))];
	const undeclared = refs(/\bvar\.(\w+)/g).filter((v) => !doc.variable[v])
		.concat(refs(/\blocal\.(\w+)/g).filter((l) => !(l in locals)).map((l) => "local." + l));
	check("every var.* and local.* used is declared" + (undeclared.length ? `: not ${undeclared}` : ""),
		undeclared.length === 0);
	const mesh = JSON.stringify(doc.output.mesh || "");
	check("output mesh: each node's mesh address", mesh.includes("mesh_address") &&
		mesh.includes("linode_instance.node") && mesh.includes("vultr_instance.node"));
	check("mesh_key output is sensitive", doc.output.mesh_key?.[0]?.sensitive === true);

	// provider schemas at the pinned versions
	const table = schema.loadTable(path.join(process.argv[3], "terraform-schema.tsv"));
	const errs = schema.check(doc, table);
	for (const e of errs) fail(`schema: ${e}`);
	const pins = Object.entries(table.pins).map(([s, v]) => `${s} ${v}`).join(", ");
	if (!errs.length) ok(`every provider pinned and every block and reference matches its schema (${pins})`);
	// each kind of mistake, made in a copy, is caught
	const broken = [
		["a count-ed resource (count = 0 by default) without a required argument",
			(d) => delete d.resource.vultr_object_storage.mesh[0].tier_id,
			"vultr_object_storage.mesh: missing required argument tier_id"],
		["a required argument of a nested block",
			(d) => delete d.resource.linode_object_storage_key.mesh[0].bucket_access[0].permissions,
			"missing required argument bucket_access.permissions"],
		["a required block of a data source",
			(d) => delete d.data.vultr_object_storage_tier.mesh[0].filter,
			"data.vultr_object_storage_tier.mesh: missing required argument filter"],
		["an unknown argument", (d) => (d.resource.random_id.bucket[0].bytes = 4),
			"random_id.bucket: unknown argument bytes"],
		["a deprecated argument", (d) => (d.resource.linode_object_storage_bucket.mesh[0].cluster = "ap-south-1"),
			"linode_object_storage_bucket.mesh: deprecated argument cluster"],
		["neither of an exactly-one group", (d) => delete d.resource.linode_object_storage_bucket.mesh[0].region,
			"exactly one of region, cluster must be set (0 are)"],
		["a deprecated attribute", (d) => (d.output.x = [{ value: "${linode_instance.node[0].ip_address}" }]),
			"linode_instance.node: deprecated attribute ip_address"],
		["a deprecated attribute through a for variable",
			(d) => (d.output.x = [{ value: "${{ for n in linode_instance.node : n.label => n.ip_address }}" }]),
			"linode_instance.node (as n): deprecated attribute ip_address"],
		["an attribute that does not exist", (d) => (d.output.x = [{ value: "${vultr_object_storage.mesh[0].hostname}" }]),
			"vultr_object_storage.mesh: no attribute hostname"],
		["a provider version range", (d) => (d.terraform[0].required_providers[0].vultr.version = "~> 2.19"),
			'provider vultr: version "~> 2.19" is not pinned'],
		["a provider missing from required_providers", (d) => delete d.terraform[0].required_providers[0].random,
			"provider random: not in required_providers"],
		["a resource type without rows", (d) => (d.resource.aws_s3_bucket = { b: [{ bucket: "x" }] }),
			"aws_s3_bucket.b: no rows for resource aws_s3_bucket"],
	];
	for (const [what, mutate, want] of broken) {
		const d = structuredClone(doc);
		try {
			mutate(d);
		} catch (e) {
			fail(`schema check catches ${what}: the configuration changed (${e.message})`);
			continue;
		}
		const got = schema.check(d, table);
		check(`schema check catches ${what}` + (got.some((e) => e.includes(want)) ? "" : `: wanted '${want}', got ${JSON.stringify(got)}`),
			got.some((e) => e.includes(want)));
	}
	process.exit(fails ? 1 : 0);
})();
EOF
