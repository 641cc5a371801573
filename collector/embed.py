#!/usr/bin/env python3
"""embed.py IN OUT SYMBOL - write a C file defining `const char SYMBOL[]` with
the bytes of IN, so the dashboard page is part of the binary (no files to
install, no external assets)."""
import sys

src, dst, sym = sys.argv[1:4]
data = open(src, "rb").read()
with open(dst, "w") as f:
    f.write("/* generated from %s by embed.py */\n" % src.split("/")[-1])
    f.write("extern const char %s[];\nconst char %s[] = {\n" % (sym, sym))
    for i in range(0, len(data), 16):
        f.write("".join("%d," % b for b in data[i:i + 16]) + "\n")
    f.write("0 };\n")
