"""Alternates two builds of the library's test binary on `pool1d_speed` and
prints, per pool and shape, the median of the per-pair ratios old/new of
the layer's time (each a median of 21, each the fastest of 20 calls).

    python3 scripts/pool1d_pairs.py OLD_TEST_BIN NEW_TEST_BIN N

The binaries: `cargo test --release --lib pool1d --no-run` in each tree.
Shapes only one of them times are skipped.
"""
import re, statistics, subprocess, sys

old, new, n = sys.argv[1], sys.argv[2], int(sys.argv[3])


def run(binary):
    out = subprocess.run([binary, "--ignored", "--nocapture", "--exact", "layers::pool1d::tests::pool1d_speed"],
                         capture_output=True, text=True).stdout
    times = {}
    for line in out.splitlines():
        m = re.match(r"(\w+Pool1d) (\S+) (.*?) ?B=32: .*layer ([\d.]+) us", line)
        if m:
            # The older binary names a window `P=2`, the newer `<2>`.
            window = re.sub(r"^P=(\d+)$", r"<\1>", m.group(3))
            times[(m.group(1), m.group(2), window)] = float(m.group(4))
    return times


A, B = [], []
for _ in range(n):
    A.append(run(old))
    B.append(run(new))
for k in A[0]:
    if k not in B[0]:
        continue
    ra = [a[k] / b[k] for a, b in zip(A, B)]
    print(f"{' '.join(k):32s} old {statistics.median(a[k] for a in A):8.1f} us  "
          f"new {statistics.median(b[k] for b in B):8.1f} us  median old/new {statistics.median(ra):.2f} "
          f"(min {min(ra):.2f} max {max(ra):.2f})")
