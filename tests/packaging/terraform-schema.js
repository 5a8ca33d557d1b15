// Checks Terraform configuration (as @cdktf/hcl2json parses it, the files merged) against the
// provider schema rows of terraform-schema.tsv: what `terraform validate` would catch, without a
// terraform binary or the providers. check(doc, table) returns one line per problem:
//   - a provider not pinned to exactly the version the table was read at, or not in the table;
//   - a resource or data source type with no rows, a missing required argument or block, an
//     unknown or deprecated argument, an exactly-one group not set exactly once;
//   - a reference <type>.<name>[...].<attr> (also through a `for x in <type>.<name>` variable)
//     to an undeclared block, or to an attribute that does not exist or is deprecated.
// Every block is checked whatever its count: Terraform validates a block with count = 0 too.
"use strict";
const fs = require("fs");

const META = new Set(["count", "for_each", "provider", "depends_on", "lifecycle", "provisioner",
	"connection"]);

function loadTable(file) {
	const t = { pins: {}, rows: {} };
	for (const line of fs.readFileSync(file, "utf8").split("\n")) {
		if (!line || line.startsWith("#")) continue;
		const f = line.split("\t");
		if (f[0] === "pin") {
			t.pins[f[1]] = f[2];
			continue;
		}
		const key = `${f[0]} ${f[1]}`;
		(t.rows[key] = t.rows[key] || {})[f[2]] = f[3];
	}
	return t;
}

const isBlock = (v) => Array.isArray(v) && v.every((x) => x && typeof x === "object" && !Array.isArray(x));

// one block body (an object) against the rows of one type; prefix is "" or "a." for nested
function checkBody(what, body, rows, prefix, errs) {
	const here = Object.entries(rows).filter(([n]) => n.startsWith(prefix) &&
		!n.slice(prefix.length).includes("."));
	for (const [k, v] of Object.entries(body)) {
		if (!prefix && META.has(k)) continue;
		const use = rows[prefix + k];
		if (use === undefined) errs.push(`${what}: unknown argument ${prefix}${k}`);
		else if (use === "deprecated") errs.push(`${what}: deprecated argument ${prefix}${k}`);
		else if (use === "computed") errs.push(`${what}: ${prefix}${k} is read-only`);
		else if (use.endsWith("block")) {
			if (!isBlock(v)) errs.push(`${what}: ${prefix}${k} must be a block`);
			else if (!Object.keys(rows).some((n) => n.startsWith(`${prefix}${k}.`)))
				errs.push(`${what}: block ${prefix}${k} has no rows for its contents`);
			else for (const b of v) checkBody(what, b, rows, `${prefix}${k}.`, errs);
		}
	}
	for (const [n, use] of here) {
		const k = n.slice(prefix.length);
		if ((use === "required" || use === "required-block") && !(k in body))
			errs.push(`${what}: missing required argument ${n}`);
		if (use === "exactly-one") {
			const set = n.split("|").filter((m) => m.slice(prefix.length) in body);
			if (set.length !== 1)
				errs.push(`${what}: exactly one of ${n.replaceAll("|", ", ")} must be set (${set.length} are)`);
		}
	}
}

function checkPins(doc, t, errs) {
	const req = {};
	for (const tf of doc.terraform || [])
		for (const rp of tf.required_providers || []) Object.assign(req, rp);
	const used = new Set(Object.keys(doc.provider || {}));
	for (const kind of ["resource", "data"])
		for (const [type, blocks] of Object.entries(doc[kind] || {})) {
			used.add(type.split("_")[0]);
			for (const b of Object.values(blocks).flat())
				if (typeof b.provider === "string") used.add(b.provider.replace(/^\$\{|\}$/g, "").split(".")[0]);
		}
	for (const name of used)
		if (!req[name]) errs.push(`provider ${name}: not in required_providers`);
	for (const [name, r] of Object.entries(req)) {
		const want = t.pins[r.source];
		const got = String(r.version || "").replace(/^=\s*/, "");
		if (!want) errs.push(`provider ${name}: ${r.source} has no rows in the table`);
		else if (got !== want)
			errs.push(`provider ${name}: version "${r.version || ""}" is not pinned to ${want}, the version the table was read at`);
	}
	// a provider's configuration is checked once its source is in the table (no rows: no arguments)
	for (const [name, blocks] of Object.entries(doc.provider || {}))
		for (const b of t.pins[req[name]?.source] ? blocks : []) {
			const { alias, ...rest } = b;
			checkBody(`provider ${name}`, rest, t.rows[`provider ${name}`] || {}, "", errs);
		}
}

function strings(v, out) {
	if (typeof v === "string") out.push(v);
	else if (v && typeof v === "object") for (const x of Object.values(v)) strings(x, out);
	return out;
}

// the for expression starting at i: from its "{" or "[" to the matching bracket
function forSpan(s, i) {
	let open = i - 1;
	while (open >= 0 && /\s/.test(s[open])) open--;
	let depth = 0, j = open;
	for (; j < s.length; j++) {
		if ("{[(".includes(s[j])) depth++;
		else if ("}])".includes(s[j]) && --depth === 0) break;
	}
	return s.slice(i, j);
}

function checkRefs(doc, t, errs) {
	const attr = (kind, type, name, a, via) => {
		const where = `${kind === "data" ? "data." : ""}${type}.${name}`;
		if (!(doc[kind]?.[type]?.[name])) return errs.push(`reference to undeclared ${where}`);
		const use = (t.rows[`${kind} ${type}`] || {})[a];
		if (use === undefined || use.endsWith("block") || use === "exactly-one")
			errs.push(`${where}${via}: no attribute ${a}`);
		else if (use === "deprecated") errs.push(`${where}${via}: deprecated attribute ${a}`);
	};
	const ref = /(?<![\w.])(data\.)?([a-z][a-z0-9]*_[a-z0-9_]+)\.([a-z0-9_]+)((?:\[[^\]]*\])*)\.([a-z0-9_]+)/g;
	const loop = /\bfor\s+(?:\w+\s*,\s*)?(\w+)\s+in\s+(data\.)?([a-z][a-z0-9]*_[a-z0-9_]+)\.([a-z0-9_]+)\b/g;
	for (const s of strings(doc, [])) {
		for (const m of s.matchAll(ref)) attr(m[1] ? "data" : "resource", m[2], m[3], m[5], "");
		for (const m of s.matchAll(loop))
			for (const r of forSpan(s, m.index).matchAll(new RegExp(`(?<![\\w.])${m[1]}\\.([a-z0-9_]+)`, "g")))
				attr(m[2] ? "data" : "resource", m[3], m[4], r[1], ` (as ${m[1]})`);
	}
}

function check(doc, t) {
	const errs = [];
	checkPins(doc, t, errs);
	for (const kind of ["resource", "data"])
		for (const [type, named] of Object.entries(doc[kind] || {})) {
			const rows = t.rows[`${kind} ${type}`];
			for (const [name, blocks] of Object.entries(named)) {
				const what = `${kind === "data" ? "data." : ""}${type}.${name}`;
				if (!rows) {
					errs.push(`${what}: no rows for ${kind} ${type} in the table`);
					continue;
				}
				for (const b of blocks) checkBody(what, b, rows, "", errs);
			}
		}
	checkRefs(doc, t, errs);
	return [...new Set(errs)];
}

module.exports = { loadTable, check };
