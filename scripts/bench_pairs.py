"""Alternates two bench_report builds (or ISAs) and prints, per workload, the
median of the per-pair time ratios A/B.

    python3 scripts/bench_pairs.py N KEYS A_BIN A_ENV B_BIN B_ENV

KEYS as bench_report --only takes them (comma-separated); ENV is K=V,K=V or -.
Example: python3 scripts/bench_pairs.py 8 fashion10_train,tfconv_train old/bench_report - target/release/examples/bench_report -
"""
import json, os, statistics, subprocess, sys

n=int(sys.argv[1]); keys=sys.argv[2]
def run(cmd, env):
    e=dict(os.environ)
    if env!='-':
        for kv in env.split(','):
            k,v=kv.split('='); e[k]=v
    out=subprocess.run([cmd,'--quick','--json','--only',keys],capture_output=True,text=True,env=e).stdout
    line=[l for l in out.splitlines() if l.startswith('{')][-1]
    return json.loads(line)
A=[];B=[]
for i in range(n):
    A.append(run(sys.argv[3],sys.argv[4])); B.append(run(sys.argv[5],sys.argv[6]))
for k in keys.split(','):
    kk=k+'_us'
    if kk not in A[0] or kk not in B[0]: print(k,'missing'); continue
    ra=[a[kk]/b[kk] for a,b in zip(A,B)]
    print(f"{k:22s} A med {statistics.median(a[kk] for a in A):9.3f}  B med {statistics.median(b[kk] for b in B):9.3f}  median A/B pair ratio {statistics.median(ra):.3f}  (min {min(ra):.3f} max {max(ra):.3f})")
print("simd A:",A[0].get('simd'),"B:",B[0].get('simd'))
