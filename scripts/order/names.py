"""Map instruction offsets (bptrace output) to the names of the functions
that contain them. Usage: names.py LINK_MAP TRACE... > moat.order
names.py --starts LINK_MAP > starts prints every function's start offset,
bptrace's breakpoints.
LINK_MAP is lld's -Map output (with --no-demangle) of the traced binary, as
scripts/build.sh writes it; for a static-pie binary, offsets from the load
base are link addresses."""
import bisect
import sys

starts_only = sys.argv[1] == "--starts"
if starts_only:
    del sys.argv[1]
syms = []
in_text = False
for line in open(sys.argv[1]):
    p = line.split()
    # output sections: "VMA LMA Size Align .name"; symbols: the same five
    # fields, deeper indented, a name that is not a section or a path
    if len(p) == 5 and p[4].startswith("."):
        in_text = p[4] == ".text"
        continue
    if in_text and len(p) == 5 and not p[4].startswith(".") and ":(" not in p[4]:
        try:
            syms.append((int(p[0], 16), int(p[2], 16), p[4]))
        except ValueError:
            pass
syms.sort()
starts = [s[0] for s in syms]
if starts_only:
    for s in sorted(set(starts)):
        print(f"{s:x}")
    sys.exit(0)
hit = set()
for trace in sys.argv[2:]:
    for line in open(trace):
        f = line.split()
        if len(f) != 2:
            continue
        off = int(f[0], 16)
        i = bisect.bisect_right(starts, off) - 1
        # a symbol of size 0 (assembly, glibc) covers up to the next one
        if i >= 0 and (off < syms[i][0] + syms[i][1] or syms[i][1] == 0):
            hit.add(i)
size = sum(syms[i][1] for i in hit)
print(f"names.py: {len(hit)} functions, {size // 1024} KiB", file=sys.stderr)
for name in sorted({syms[i][2] for i in hit}, key=lambda n: min(syms[i][0] for i in hit if syms[i][2] == n)):
    print(name)
