#!/usr/bin/python3
"""Terraform templatefile() for what the cloud-config templates use, to render them in tests.

usage: templatefile.py TEMPLATE OUT name=value...
${name} takes the value; $${ is a literal ${; any %{ directive or an unknown name is an error,
as in Terraform.
"""
import re, sys

src, out = sys.argv[1], sys.argv[2]
vals = dict(a.split("=", 1) for a in sys.argv[3:])
text = open(src).read()
if "%{" in text:
    sys.exit(f"{src}: template directives are not expected")


def sub(m):
    if m.group(1) == "$":
        return "${" + m.group(2) + "}"
    if m.group(2) not in vals:
        sys.exit(f"{src}: unknown template variable {m.group(2)}")
    return vals[m.group(2)]


open(out, "w").write(re.sub(r"(\$?)\$\{([^}]*)\}", sub, text))
