"""Training time of one epoch of examples 09, 10 and 11, constnet beside
PyTorch, on one and on two threads, alternated, for the README's table.

    cargo build --release --examples
    python3 scripts/time_examples.py [ROUNDS] [EXAMPLE ...]

Each round runs, for every example and thread count, the constnet example
(`--epochs 1 --threads T`; its "training took X s") and then
`scripts/examples_torch.py MODEL T 1 SHIFT` (its "X s training"): the time of
the training steps of one epoch of 55000 images in batches of 32, data
loading and evaluation left out on both sides. Prints each figure's
runs and median, and the median ratio PyTorch / constnet over the
rounds' pairs. ROUNDS defaults to 1. The target directory is
$CARGO_TARGET_DIR or target/.
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile

# constnet example: (PyTorch model name in scripts/examples_torch.py, the
# example's default --shift)
EXAMPLES = {
    "09_conv1d_sequences": ("seqnet", 0),
    "10_resnet_fashion": ("resnet8_wide", 1),
    "11_mobilenet_fashion": ("mobilenet", 0),
}


def seconds(cmd, pattern):
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(pattern, out)
    if not m:
        sys.exit(f"no time in the output of {' '.join(cmd)}:\n{out}")
    return float(m.group(1))


def main(rounds="1", *names):
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(here, "..", "target"))
    names = names or tuple(EXAMPLES)
    times = {}
    with tempfile.TemporaryDirectory() as out:
        for r in range(int(rounds)):
            for name in names:
                for threads in (1, 2):
                    exe = os.path.join(target, "release", "examples", name)
                    args = ["--epochs", "1", "--threads", str(threads), "--out", out]
                    c = seconds([exe, *args], r"training took ([0-9.]+) s")
                    model, shift = EXAMPLES[name]
                    torch = [sys.executable, os.path.join(here, "examples_torch.py"), model, str(threads), "1", str(shift)]
                    t = seconds(torch, r"([0-9.]+) s training over")
                    times.setdefault((name, threads), []).append((c, t))
                    print(f"round {r + 1}: {name}, {threads} thread(s): constnet {c:.1f} s, PyTorch {t:.1f} s", flush=True)
    print("\n| example | threads | constnet s/epoch | PyTorch s/epoch | PyTorch / constnet |")
    print("|---|---|---|---|---|")
    for (name, threads), pairs in times.items():
        c = statistics.median(p[0] for p in pairs)
        t = statistics.median(p[1] for p in pairs)
        ratio = statistics.median(p[1] / p[0] for p in pairs)
        print(f"| {name} | {threads} | {c:.1f} | {t:.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
