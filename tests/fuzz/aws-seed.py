#!/usr/bin/python3
"""A fuzz-md-aws seed from an IMDS tree (tests/fixtures/metadata/aws/*/meta-data.json, the
fake's {"meta-data": ...} file): the bodies of md_aws_paths[] in order, 0x1e between them, 0x1f
for a 404. The paths are read from metadata/aws.c itself, so the two cannot drift apart."""
import json
import os
import re
import sys

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "metadata", "aws.c")


def paths():
    text = open(SRC).read()
    table = text[text.index("md_aws_paths[MD_AWS_N_ITEMS] = {"):]
    table = table[:table.index("};")]
    return re.findall(r'\] = "([^"]+)"', table)


def body(tree, path):
    node = tree
    for part in [p for p in path.split("/") if p]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, str):
        return node.encode()
    if isinstance(node, list):
        return "\n".join(node).encode()
    return b"\x1f"


def main():
    tree = json.load(open(sys.argv[1]))
    tree = tree.get("meta-data", tree)
    mac = tree.get("mac", "") if isinstance(tree.get("mac"), str) else ""
    out = [body(tree, p.replace("%s", mac.strip())) for p in paths()]
    sys.stdout.buffer.write(b"\x1e".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
